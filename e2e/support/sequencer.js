// Runs the scenario files in the order of their names (01-…, 02-…): later scenarios start
// from the state earlier ones leave (the release installed, the pool scaled); scenario 6
// uninstalls Grove and scenario 7 installs it again, on a store of its own.
export default class ByName {
  sort(tests) {
    return [...tests].sort((a, b) => a.path.localeCompare(b.path));
  }

  shard(tests) {
    return tests;
  }

  allFailedTests(tests) {
    return tests;
  }

  cacheResults() {}
}
