// Jest only: TypeScript and the ESM-only dependencies (nock 15, p-queue,
// @atproto/lex-*) are compiled to CommonJS for the current Node.
export default {
  presets: [
    ['@babel/preset-env', { targets: { node: 'current' } }],
    ['@babel/preset-typescript', { allowDeclareFields: true }],
  ],
  plugins: ['babel-plugin-transform-import-meta'],
}
