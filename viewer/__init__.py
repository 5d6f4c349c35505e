"""Renderers of the twin: glTF/GLB scenes for the web (``viewer.gltf``).

Heavy renderers (PyVista) are imported lazily by the modules that need them,
so ``import viewer`` stays light.
"""
