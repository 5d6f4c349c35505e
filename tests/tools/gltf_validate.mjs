// The Khronos glTF validator (npm gltf-validator) on GLB files given as arguments:
// prints one JSON object, path -> {errors, warnings, infos, messages}. Run by the tests.
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const out = {};
for (const path of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(data, { uri: path, maxIssues: 100 });
  out[path] = {
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    infos: report.issues.numInfos,
    messages: report.issues.messages,
  };
}
process.stdout.write(JSON.stringify(out));
