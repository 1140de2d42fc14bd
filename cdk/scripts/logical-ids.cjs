#!/usr/bin/env node
'use strict';
/**
 * The logical ids (and types) of every resource in the two app configurations that check.sh
 * synthesizes, committed as test/fixtures/logical-ids.json. CloudFormation replaces a resource whose
 * logical id changes, so for stateful resources (the issuer bucket, the CloudFront distribution, the
 * REST API, the state machine, log groups...) a changed id means data loss or a new URL on update.
 *
 *   node scripts/logical-ids.cjs write                      synthesize both configurations (cdk synth,
 *                                                            offline, stub Lambdas) and rewrite the fixture
 *   node scripts/logical-ids.cjs check NAME=TEMPLATE...     compare synthesized templates with the fixture
 *                                                            (check.sh runs it on the templates it synthesized)
 *
 * test/logical-ids.test.ts synthesizes the same configurations in-process and compares them too.
 * Rewrite the fixture only on purpose: a deployed stack would replace whatever changed.
 */
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CDK_DIR = path.resolve(__dirname, '..');
const FIXTURE = path.join(CDK_DIR, 'test', 'fixtures', 'logical-ids.json');

/** The configurations of check.sh's two `cdk synth` steps (region from AWS_REGION there, no account). */
const CONFIGS = {
  default: {
    region: 'us-east-1',
    context: { defaultAudience: 'api://iamjwt-check', lambdaCodeDir: 'test/fixtures/lambda' },
  },
  full: {
    region: 'us-east-1',
    context: {
      defaultAudience: 'api://iamjwt-check',
      lambdaCodeDir: 'test/fixtures/lambda',
      stackName: 'IamJwtFull',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
      apiGwWaf: 'ConstructProvided',
      orgId: 'o-a1b2c3d4e5',
      allowedAccountIds: '444455556666',
      algorithms: 'ES256',
      rotationSchedule: 'rate(60 days)',
      sessionTags: 'true',
      tagReaderRoleName: 'iamjwt/tag-reader',
      tagCacheSeconds: '600',
    },
  },
};

/**
 * Types whose replacement loses state or changes something callers hold (a URL, an ARN, a name in
 * their configuration). Their logical ids must never change.
 */
const STATEFUL_TYPES = [
  'AWS::S3::Bucket',
  'AWS::CloudFront::Distribution',
  'AWS::ApiGateway::RestApi',
  'AWS::ApiGateway::DomainName',
  'AWS::StepFunctions::StateMachine',
  'AWS::Logs::LogGroup',
  'AWS::KMS::Key',
  'AWS::SNS::Topic',
  'AWS::WAFv2::WebACL',
  'Custom::IamJwtFirstRotation',
];

/** `{ logicalId: type }` of a template, sorted by id. */
function logicalIds(template) {
  const out = {};
  for (const id of Object.keys(template.Resources || {}).sort()) out[id] = template.Resources[id].Type;
  return out;
}

/**
 * Differences between the fixture's ids and a template's: `{ removed, added, retyped }` (each a list
 * of "id (type)"), and which of them touch a stateful type.
 */
function compare(expected, actual) {
  const removed = Object.keys(expected).filter((id) => !(id in actual));
  const added = Object.keys(actual).filter((id) => !(id in expected));
  const retyped = Object.keys(expected).filter((id) => id in actual && actual[id] !== expected[id]);
  const show = (ids, map) => ids.map((id) => `${id} (${map[id]})`);
  const statefulIds = [...removed, ...retyped].filter((id) => STATEFUL_TYPES.includes(expected[id]))
    .concat(added.filter((id) => STATEFUL_TYPES.includes(actual[id])));
  return {
    removed: show(removed, expected),
    added: show(added, actual),
    retyped: retyped.map((id) => `${id} (${expected[id]} -> ${actual[id]})`),
    stateful: statefulIds,
  };
}

function readFixture() {
  return JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
}

function write() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'iamjwt-logical-ids-'));
  try {
    const configurations = {};
    for (const [name, config] of Object.entries(CONFIGS)) {
      const args = ['--no-install', 'cdk', 'synth', '--quiet', '--no-notices', '--output', path.join(out, name)];
      for (const [k, v] of Object.entries(config.context)) args.push('-c', `${k}=${v}`);
      childProcess.execFileSync('npx', args, {
        cwd: CDK_DIR,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          AWS_REGION: config.region, AWS_DEFAULT_REGION: config.region,
          AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          CDK_DISABLE_CLI_TELEMETRY: 'true', CDK_DISABLE_VERSION_CHECK: 'true',
        },
      });
      const stackName = config.context.stackName || 'IamJwt';
      const template = JSON.parse(fs.readFileSync(path.join(out, name, `${stackName}.template.json`), 'utf8'));
      configurations[name] = { stackName, region: config.region, context: config.context, resources: logicalIds(template) };
    }
    const fixture = {
      comment: 'Logical ids and types of every resource in the configurations check.sh synthesizes. Generated by '
        + '`node scripts/logical-ids.cjs write`; test/logical-ids.test.ts and check.sh compare against it. '
        + `Stateful types (${STATEFUL_TYPES.join(', ')}) must keep their ids: CloudFormation would replace them.`,
      configurations,
    };
    fs.writeFileSync(FIXTURE, `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), FIXTURE)}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function check(pairs) {
  const fixture = readFixture();
  let failed = false;
  if (pairs.length === 0) throw new Error('check needs NAME=TEMPLATE arguments');
  for (const pair of pairs) {
    const [name, file] = pair.split('=');
    const expected = fixture.configurations[name];
    if (!expected || !file) throw new Error(`unknown configuration '${name}' (fixture has ${Object.keys(fixture.configurations).join(', ')})`);
    const diff = compare(expected.resources, logicalIds(JSON.parse(fs.readFileSync(file, 'utf8'))));
    const changes = [...diff.removed.map((r) => `removed ${r}`), ...diff.added.map((a) => `added ${a}`), ...diff.retyped.map((r) => `retyped ${r}`)];
    if (changes.length === 0) {
      console.log(`${name}: all ${Object.keys(expected.resources).length} logical ids as in the fixture`);
    } else {
      failed = true;
      console.error(`${name}: logical ids differ from ${path.relative(process.cwd(), FIXTURE)} `
        + `(${diff.stateful.length} stateful: a deployed stack would replace them):\n  ${changes.join('\n  ')}`);
    }
  }
  if (failed) {
    console.error('If the change is intended and safe for deployed stacks, regenerate: node scripts/logical-ids.cjs write');
    process.exit(1);
  }
}

module.exports = { CONFIGS, STATEFUL_TYPES, FIXTURE, logicalIds, compare, readFixture };

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'write') write();
  else if (cmd === 'check') check(rest);
  else {
    console.error('usage: node scripts/logical-ids.cjs write | check NAME=TEMPLATE...');
    process.exit(2);
  }
}
