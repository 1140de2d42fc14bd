# A newcomer's Python CDK app: `pip install iamjwt-cdk aws-cdk-lib constructs cdk-nag`, then this file.
# scripts/package-test.sh synthesizes it in a temporary venv from the built wheel (make package-test).
from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from iamjwt_cdk import IamJwtIssuer

app = App()
stack = Stack(app, "Consumer")
IamJwtIssuer(stack, "Issuer", default_audience="api://consumer")
# The check the repository's own app runs: cdk-nag's AwsSolutions pack; an unacknowledged finding fails the synth.
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
