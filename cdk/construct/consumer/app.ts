// A newcomer's TypeScript CDK app: `npm install iamjwt-cdk aws-cdk-lib constructs cdk-nag`, then this file.
// scripts/package-test.sh synthesizes it in a temporary directory from the packed tarball (make package-test).
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IamJwtIssuer } from 'iamjwt-cdk';

const app = new App();
const stack = new Stack(app, 'Consumer');
new IamJwtIssuer(stack, 'Issuer', { defaultAudience: 'api://consumer' });
// The check the repository's own app runs: cdk-nag's AwsSolutions pack; an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
