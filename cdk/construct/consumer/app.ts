// A newcomer's TypeScript CDK app: `npm install iamjwt-cdk aws-cdk-lib constructs cdk-nag`, then this file.
// scripts/package-test.sh synthesizes it in a temporary directory from the packed tarball (make package-test).
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IamJwtIssuer } from 'iamjwt-cdk';

const app = new App();
const stack = new Stack(app, 'Consumer');
new IamJwtIssuer(stack, 'Issuer', { defaultAudience: 'api://consumer' });
// The check the repository's own app runs: cdk-nag's AwsSolutions pack; an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

// Not a newcomer's: the test synthesizes once more with `-c nagProbe=true`, adding a bucket without access logs that
// cdk-nag must refuse (AwsSolutions-S1), which proves the check above runs in this app.
if (app.node.tryGetContext('nagProbe') === 'true') new Bucket(stack, 'NagProbe');
