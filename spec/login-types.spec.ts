import { describe, expect, it, jest } from '@jest/globals'
import path from 'node:path'
import ts from 'typescript'

// What tsc says about a typo in `PasswordAgent.login`'s options: the error is
// reported against the form the call used, with TypeScript's "Did you mean",
// not as "No overload matches this call" (which, when the object form had
// more than one error, showed only the URL form's). spec/types/login-options.ts
// holds the same calls for `npm run typecheck`.
jest.setTimeout(60_000)

const root = path.resolve(__dirname, '..')
const file = path.join(root, 'spec/types/typo-probe.ts')

/** The diagnostics tsc gives for `calls`, one per line of it: [line, code, message]. */
function diagnose(calls: string[]): [number, number, string][] {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
      },
    },
  )!
  const header = [
    "import { PasswordAgent } from '../../lib/index.ts'",
    "const identifier = 'alice.bsky.social'",
    "const password = 'app-password'",
    "const service = 'https://bsky.social'",
  ]
  const text = [...header, ...calls.map((call) => `void ${call}`)].join('\n')
  const host = ts.createCompilerHost(config.options)
  const getSourceFile = host.getSourceFile
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, text, version) : getSourceFile.call(host, name, version, ...rest)
  host.fileExists = (
    (exists) => (name: string) =>
      name === file || exists(name)
  )(host.fileExists)
  const program = ts.createProgram([file], config.options, host)
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start!)
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    // The order tsc prints a union of key names in depends on what it met first.
    const sorted = message.replace(
      /Omit<LoginOptions, ([^>]+)>/g,
      (_, keys: string) => `Omit<LoginOptions, ${keys.split(' | ').sort().join(' | ')}>`,
    )
    return [line - header.length, d.code, sorted]
  })
}

describe('PasswordAgent.login typings', () => {
  it('report a typo against the form it was made in, with "Did you mean"', () => {
    const diagnostics = diagnose([
      'PasswordAgent.login({ identifier, password, service, hook: {} })',
      'PasswordAgent.login({ identifier, password, serviceUrl: service })',
      'PasswordAgent.login({ identifier, password, service, refreshTimeoutMS: 5_000 })',
      'PasswordAgent.login({ identifier, password, service, hooks: { onRefresh() {} } })',
      'PasswordAgent.login({ identifier, password, service, refreshTimeoutMs: "5", maxSessionAnswerBytes: "1" })',
      "PasswordAgent.login('https://alice.bsky.social:pw@bsky.social', { hook: {} })",
      // Valid calls: no diagnostic.
      'PasswordAgent.login({ identifier, password, service, hooks: { onRefreshed() {} } })',
      "PasswordAgent.login('https://alice.bsky.social:pw@bsky.social')",
      "PasswordAgent.login(new URL('https://alice.bsky.social:pw@bsky.social'), { refreshTimeoutMs: 1 })",
      'PasswordAgent.login(service as string | URL, { hooks: {} })',
    ])
    const known = (name: string, type: string, meant: string) =>
      `Object literal may only specify known properties, but '${name}' does not exist in type '${type}'. Did you mean to write '${meant}'?`
    const urlOptions = 'Omit<LoginOptions, "identifier" | "password" | "service">'
    expect(diagnostics).toEqual([
      [0, 2561, known('hook', 'LoginOptions', 'hooks')],
      [1, 2561, known('serviceUrl', 'LoginOptions', 'service')],
      [2, 2561, known('refreshTimeoutMS', 'LoginOptions', 'refreshTimeoutMs')],
      [3, 2561, known('onRefresh', 'SessionHooks<PasswordAgent>', 'onRefreshed')],
      [4, 2322, "Type 'string' is not assignable to type 'number'."],
      [4, 2322, "Type 'string' is not assignable to type 'number'."],
      [5, 2561, known('hook', urlOptions, 'hooks')],
    ])
  })
})
