/** The local Hub: a read-only Hugging Face Hub over a directory, with opt-in fault injection. */
export { createHubServer, listenHub, startHub, parseRange, type HubServer, type HubServerOptions, type HubControl, type RequestRecord } from './server.js';
export { Faults, FaultRuleSchema, parseFaultRules, globToRegExp, type FaultRule, type FaultAction, type FaultState } from './faults.js';
export { RepoStore, commitId, gitBlobSha1, isLfs, lfsPointer, LFS_EXTENSIONS, LFS_MIN_SIZE, SECURITY_FILE, type HubFile, type RepoSnapshot } from './store.js';
export { parseRoute, type RepoRef, type RepoKind, type Route } from './paths.js';
