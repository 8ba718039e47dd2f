/** The store layer's public surface, so callers import from one place. */
export type * from './types.js';
export type * from './console-types.js';
export { StoreError, isStoreError, toStoreError, type StoreErrorKind } from './errors.js';
export { SqlStore, AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, type SqlStoreDriver } from './sql.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { openStore, parseStoreLocation, type StoreLocation } from './open.js';
export { migrationNames } from './migrations.js';
export { FsBlobStore, openFsBlobStore, writeAll, checkSha256, type FsBlobStoreOptions } from './blobs-fs.js';
export { S3BlobStore, type S3BlobStoreOptions } from './blobs-s3.js';
export { openBlobStore, parseBlobStoreLocation, SHARED_SWEEP_MIN_AGE_MS, type BlobStoreLocation, type OpenBlobStoreOptions } from './blobs-open.js';
export { createTokenSecret, hashTokenSecret, verifyTokenSecret, looksLikeTokenSecret, TOKEN_PREFIX } from './tokens.js';
