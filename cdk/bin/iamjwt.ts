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
const { stackName, stackProps } = appConfigFromContext(app.node, path.resolve(__dirname, '..'));
new IamJwtStack(app, stackName, {
  ...stackProps,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
