import { afterAll, afterEach, beforeAll } from '@jest/globals'
import nock from 'nock'

// No spec may reach the network; each file gets a clean nock.
beforeAll(() => {
  if (!nock.isActive()) nock.activate()
  nock.disableNetConnect()
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/)
})
afterEach(() => {
  nock.cleanAll()
})
afterAll(() => {
  nock.enableNetConnect()
  nock.restore()
})
