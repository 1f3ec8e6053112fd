// npm run bench (third part): why the sandbox compiles a bundle once per worker into a factory.
// Per invocation, both ways create a fresh Compartment; "evaluate" then evaluates the bundle in it
// (parse and run its top level), "factory" calls a factory evaluated once (runs its top level only).
// Same process, same ~160 KB bundle, medians of 7 runs. Runs SES lockdown, hence its own process.
/* global lockdown, Compartment, performance */
import 'ses'

lockdown({ errorTaming: 'unsafe', overrideTaming: 'severe', consoleTaming: 'unsafe' })
const helpers = Array.from(
  { length: 2400 },
  (_, i) => `function helper${i}(value) { return value * ${i} + ${i} }`,
).join('\n')
const table = `const helpers = [${Array.from({ length: 2400 }, (_, i) => `helper${i}`).join(', ')}]`
const body = `${helpers}\n${table}\nasync function run() { return helpers[7](executionParams.payload) }`
const factory = new Compartment({ globals: {}, __options__: true }).evaluate(
  `(function (executionParams) {\n${body}\nreturn run })`,
)

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const measure = (call) => {
  for (let i = 0; i < 50; i++) call(i)
  const runs = []
  for (let run = 0; run < 7; run++) {
    const started = performance.now()
    for (let i = 0; i < 200; i++) call(i)
    runs.push((performance.now() - started) / 200)
  }
  return median(runs)
}
const evaluateMs = measure((i) =>
  new Compartment({ globals: { executionParams: { payload: i } }, __options__: true }).evaluate(
    `${body}\nrun`,
  ),
)
const factoryMs = measure((i) => {
  new Compartment({ globals: {}, __options__: true })
  return factory({ payload: i })
})
console.log(`\nPer-invocation cost of a ${Math.round(body.length / 1024)} KB bundle in a fresh Compartment\n`)
console.log('| way | ms per invocation | × factory |')
console.log('|---|---:|---:|')
console.log(
  `| evaluate the bundle each time | ${evaluateMs.toFixed(3)} | ${(evaluateMs / factoryMs).toFixed(2)} |`,
)
console.log(`| factory compiled once (what centrali does) | ${factoryMs.toFixed(3)} | 1.00 |`)
