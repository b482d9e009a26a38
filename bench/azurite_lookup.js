// Preloaded into the benchmark's Azurite (NODE_OPTIONS=--require): a blob or a container is looked up
// by its indexed name first.
//
// Azurite 3.x finds a blob with LokiJS `findOne({accountName, containerName, name, snapshot})`.
// LokiJS uses a binary index only for the first condition of such a query, and accountName matches
// every document of the emulator's single account: each GET walks every blob the emulator holds, then
// the container's. A CPU profile of the 20,000-file part (bench/README.md, thirteenth round) put 60% of
// Azurite's CPU there, and its CPU per GET grew with the blobs it held; the real service has no such
// cost, and the benchmark measures the client, not the emulator. The same conditions with `name`
// first select the same documents through the `name` index. Results are unchanged: a blob's
// (account, container, name, snapshot) and a container's (account, name) are unique, so findOne has at
// most one match in any order. Only those two collections are touched; listings (`find`) are not.
"use strict";
const fs = require("fs");
const path = require("path");

const COLLECTIONS = new Set(["$BLOBS_COLLECTION$", "$CONTAINERS_COLLECTION$"]);
const azuriteEntry = fs.realpathSync(process.argv[1]);
const loki = require(require.resolve("lokijs", { paths: [path.dirname(azuriteEntry)] }));
const findOne = loki.Collection.prototype.findOne;
if (typeof findOne !== "function") {
  throw new Error("bench/azurite_lookup.js: this lokijs has no Collection.prototype.findOne; run the bench with --azurite-stock");
}

loki.Collection.prototype.findOne = function (query) {
  if (COLLECTIONS.has(this.name) && query && typeof query === "object"
      && Object.prototype.hasOwnProperty.call(query, "name") && this.binaryIndices && this.binaryIndices.name
      && Object.keys(query)[0] !== "name") {
    const byName = { name: query.name };
    for (const key of Object.keys(query)) {
      if (key !== "name") byName[key] = query[key];
    }
    query = byName;
  }
  return findOne.call(this, query);
};
process.stderr.write("bench/azurite_lookup.js: blobs and containers looked up by name first\n");
