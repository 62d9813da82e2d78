// Node-only entry point (`lex-password-agent/file-store`), kept apart so that
// browser bundles of the main entry never pull in node:fs.
export { FileSessionStore, type FileSessionStoreOptions } from './file-session-store.ts'
