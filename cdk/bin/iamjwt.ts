#!/usr/bin/env node
/**
 * The iamjwt CDK app: `npx cdk deploy -c defaultAudience=<aud>` (see docs/deploy.md for every key).
 * cdk-nag's AwsSolutions pack runs on every synth; an unacknowledged finding fails it.
 */
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { appConfigFromContext } from '../lib/app-config';
import { IamJwtStack } from '../lib/iamjwt-stack';

const app = new App();
const { stackName, stackProps, primaryRegion } = appConfigFromContext(app.node, path.resolve(__dirname, '..'));
// With -c regions=..., the primary stack goes to the first region named there (the others get stacks of their own).
new IamJwtStack(app, stackName, {
  ...stackProps,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: primaryRegion ?? process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
