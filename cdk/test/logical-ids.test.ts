/**
 * Updating a deployed stack must not replace its resources: CloudFormation replaces any resource whose
 * logical id changes. The fixture holds the ids of every resource in the two configurations check.sh
 * synthesizes (generated before the construct was split into parts); the same configurations,
 * synthesized here the way `cdk synth` does, must have exactly those ids and types.
 */
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { appConfigFromContext } from '../lib/app-config';
import { IamJwtStack } from '../lib/iamjwt-stack';
import { CDK_CONTEXT } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { compare, logicalIds, readFixture, STATEFUL_TYPES } = require('../scripts/logical-ids.cjs');

interface Configuration {
  readonly stackName: string;
  readonly region: string;
  readonly context: Record<string, string>;
  readonly resources: Record<string, string>;
}

const fixture: { configurations: Record<string, Configuration> } = readFixture();

/**
 * Logical ids that may differ from the fixture, and why. Only non-stateful resources (or the
 * certificate, which is recreated and re-validated by DNS without downtime) may ever be listed.
 */
const ACCEPTED_CHANGES: Record<string, string> = {};

/**
 * What bin/iamjwt.ts builds for these context values. The CLI also sets these three keys: version
 * reporting adds the CDKMetadata resource, and path metadata enters the hash in the API deployment's id.
 */
const CLI_CONTEXT = { 'aws:cdk:version-reporting': true, 'aws:cdk:enable-path-metadata': true, 'aws:cdk:enable-asset-metadata': true };

function synthApp(c: Configuration): Record<string, string> {
  const app = new App({ context: { ...CDK_CONTEXT, ...c.context, ...CLI_CONTEXT } });
  const { stackName, stackProps } = appConfigFromContext(app.node, path.resolve(__dirname, '..'));
  new IamJwtStack(app, stackName, { ...stackProps, env: { region: c.region } });
  expect(stackName).toBe(c.stackName);
  return logicalIds(app.synth().getStackByName(stackName).template);
}

describe('logical ids are stable (a deployed stack is updated, not replaced)', () => {
  test.each(Object.keys(fixture.configurations))('%s configuration', (name) => {
    const expected = fixture.configurations[name];
    const diff = compare(expected.resources, synthApp(expected));
    const accepted = (entry: string) => entry.split(' ')[0] in ACCEPTED_CHANGES;
    // Stateful resources: the set must be identical, whatever ACCEPTED_CHANGES says.
    expect(diff.stateful.filter((id: string) => !/Certificate/.test(id))).toEqual([]);
    expect({
      removed: diff.removed.filter((e: string) => !accepted(e)),
      added: diff.added.filter((e: string) => !accepted(e)),
      retyped: diff.retyped,
    }).toEqual({ removed: [], added: [], retyped: [] });
  });

  test('the fixture covers the stateful resources this test is about', () => {
    const types = Object.values(fixture.configurations).flatMap((c) => Object.values(c.resources));
    for (const t of ['AWS::S3::Bucket', 'AWS::CloudFront::Distribution', 'AWS::ApiGateway::RestApi', 'AWS::StepFunctions::StateMachine']) {
      expect(STATEFUL_TYPES).toContain(t);
      expect(types).toContain(t);
    }
  });
});
