import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { confirmChange, requireConfirmation } from '../cli/confirm.js'
import { confirmFlag, targetFlag } from '../cli/flags.js'
import { createStepRunner } from '../cli/progress.js'
import {
  assertDeployable,
  dryRunResult,
  executeDeploy,
  prepareDeploy,
  type DeployResult,
} from '../deploy/deploy.js'
import {
  CLOUDFLARE_SECRETS_WORDING,
  cloudflareDryRunResult,
  deployTargetType,
  executeCloudflareDeploy,
  prepareCloudflareDeploy,
  type CloudflareDeployResult,
} from '../deploy/cloudflare.js'
import { renderPlan, table } from '../deploy/plan.js'

export default class Deploy extends BaseCommand {
  static override summary = 'Bundle every function and deploy them to a target as a new version.'
  static override description =
    prose(`Bundles each function (minified, with a source map), compares it with the version active on the
target and prints the plan: functions new, changed (size before → after), unchanged or removed; trigger
and domain changes; and whether the target holds each secret the triggers use. Then it uploads the
version and activates it, and prints the version and each endpoint's URL. Secret values are never
part of a deploy: send them once with \`centrali secrets push\`.

The token comes from the environment variable named by the target's "tokenEnv" (default
CENTRALI_TOKEN). What is sent is also written to .centrali/deploy/<target>/ for inspection.

A "cloudflare" target builds one Workers ES module (worker.js) and a wrangler.jsonc in
.centrali/deploy/<target>/, runs \`wrangler deploy\` with CLOUDFLARE_API_TOKEN from the environment,
then \`wrangler secret bulk\` with the secrets the triggers use, sent over stdin. Install wrangler
in the project first: npm i -D wrangler.`)

  static override examples = [
    '<%= config.bin %> deploy --dry-run',
    '<%= config.bin %> deploy',
    'CENTRALI_TOKEN=... <%= config.bin %> deploy --target staging --yes',
    '<%= config.bin %> deploy --yes --json',
  ]

  static override flags = {
    target: targetFlag,
    'dry-run': Flags.boolean({ description: 'Bundle and print the plan; upload nothing.' }),
    yes: confirmFlag('Deploy'),
  }

  async run(): Promise<DeployResult | CloudflareDeployResult> {
    const { flags } = await this.parse(Deploy)
    const dryRun = flags['dry-run']
    if (!dryRun) {
      requireConfirmation({
        yes: flags.yes,
        action: 'deploy',
        alternative: 'See what would change first with `centrali deploy --dry-run`.',
      })
    }
    const { output } = this
    const deps = { step: createStepRunner({ json: output.json }) }
    const targetOptions = { ...this.context(flags), target: flags.target }
    if ((await deployTargetType(targetOptions)) === 'cloudflare') {
      const prepared = await prepareCloudflareDeploy(targetOptions, deps)
      for (const line of renderPlan(prepared.plan, output.paint, CLOUDFLARE_SECRETS_WORDING))
        output.result(line)
      if (dryRun) {
        output.info(
          `Dry run: wrangler was not run. The Worker and its wrangler.jsonc are in ${prepared.files}/.`,
        )
        return cloudflareDryRunResult(prepared)
      }
      await confirmChange(`Deploy this to ${prepared.plan.target.url}?`, flags.yes)
      const result = await executeCloudflareDeploy(prepared, { env: targetOptions.env }, deps)
      output.result('')
      output.result(output.paint('bold', `Deployed ${prepared.target.worker} to Cloudflare`))
      for (const line of table(result.endpoints.map((endpoint) => [endpoint.trigger, endpoint.url]))) {
        output.result(line)
      }
      return result
    }
    const prepared = await prepareDeploy(targetOptions, deps)
    for (const line of renderPlan(prepared.plan, output.paint)) output.result(line)

    if (dryRun) {
      output.info(`Dry run: nothing was uploaded. What would be sent is in ${prepared.files}/.`)
      return dryRunResult(prepared)
    }
    assertDeployable(prepared)
    const { name, url } = prepared.plan.target
    await confirmChange(`Deploy this to ${name} (${url})?`, flags.yes)
    const result = await executeDeploy(prepared, deps)

    output.result('')
    output.result(
      output.paint('bold', `Deployed ${result.version!.id} to ${name}`) +
        (result.previous === null ? '' : output.paint('dim', ` (was ${result.previous})`)),
    )
    if (result.endpoints.length > 0) {
      output.result('Endpoints')
      for (const line of table(result.endpoints.map((endpoint) => [endpoint.trigger, endpoint.url]))) {
        output.result(line)
      }
    }
    return result
  }
}
