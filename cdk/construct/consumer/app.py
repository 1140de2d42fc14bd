# A newcomer's Python CDK app: `pip install iamjwt-cdk aws-cdk-lib constructs cdk-nag`, then this file.
# scripts/package-test.sh synthesizes it in a temporary venv from the built wheel (make package-test).
from aws_cdk import App, Stack, Validations
from aws_cdk.aws_s3 import Bucket
from cdk_nag import AwsSolutionsChecks
from iamjwt_cdk import IamJwtIssuer

app = App()
stack = Stack(app, "Consumer")
IamJwtIssuer(stack, "Issuer", default_audience="api://consumer")
# The check the repository's own app runs: cdk-nag's AwsSolutions pack; an unacknowledged finding fails the synth.
Validations.of(app).add_plugins(AwsSolutionsChecks(app))

# Not a newcomer's: the test synthesizes once more with `-c nagProbe=true`, adding a bucket without access logs that
# cdk-nag must refuse (AwsSolutions-S1), which proves the check above runs in this app.
if app.node.try_get_context("nagProbe") == "true":
    Bucket(stack, "NagProbe")
app.synth()
