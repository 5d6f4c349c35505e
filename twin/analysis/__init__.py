"""Analyses of the underground networks, as library functions.

* :mod:`.segments` loads pipe segments into arrays once;
* :mod:`.ageing` age bands and the renewal list (pipes in service >= N years);
* :mod:`.statistics` length per network by diameter, material and age band;
* :mod:`.clearance` horizontal and vertical clearances (GB 50289 by default);
* :mod:`.isolation` valves to close, segments and buildings cut off by a burst.

The API and the viewers show their results; nothing here prints or draws.
"""
