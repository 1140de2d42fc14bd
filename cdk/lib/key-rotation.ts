/**
 * Key rotation: the state machine built from `infra/rotation.asl.json` (the one definition of the
 * steps), an EventBridge schedule, and a first run at stack creation that CloudFormation waits for.
 *
 * The first run is a custom resource whose handler (assets/bootstrap) answers CloudFormation itself.
 * It is deliberately not a `custom_resources.Provider`: that would change the resource's ServiceToken,
 * which CloudFormation refuses on update ("Modifying service token is not allowed"), so every deployed
 * stack would fail to update; it would also add the framework's Lambda and role for ~40 saved lines.
 *
 * A part of `IamJwtIssuer`: its resources are created in the issuer's scope (see parts.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, CustomResource, Duration, Names, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { checkRotationAsl, ROTATION_ASL_FILE } from './asl';
import { acknowledge, acknowledgeWildcard, logGroup } from './parts';
import { ResolvedConfig } from './props';

const BOOTSTRAP_CODE_DIR = path.resolve(__dirname, '..', 'assets', 'bootstrap');

export interface KeyRotationProps {
  readonly config: ResolvedConfig;
  /** Runs each step. */
  readonly rotateFunction: lambda.IFunction;
  /** Receives the failing step and error when a rotation fails. */
  readonly alarmTopic: sns.ITopic;
}

export class KeyRotation {
  public readonly stateMachine: sfn.StateMachine;
  /** The first-rotation custom resource (undefined with `disableKeyRotateOnCreate`). */
  public readonly firstRotation?: CustomResource;

  constructor(scope: Construct, props: KeyRotationProps) {
    const { config, rotateFunction, alarmTopic } = props;
    const stack = Stack.of(scope);
    const asl = checkRotationAsl(fs.readFileSync(ROTATION_ASL_FILE, 'utf8'));
    // A fixed name lets the role's policy name the state machine's ARN without referencing the state
    // machine itself (which depends on the role: a cycle).
    const stateMachineName = `${Names.uniqueResourceName(scope, { maxLength: 71, separator: '-' })}-rotation`;
    const arn = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.stateMachine = new sfn.StateMachine(scope, 'RotationStateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: 'iamjwt key rotation (infra/rotation.asl.json)',
      definitionBody: sfn.DefinitionBody.fromString(asl),
      definitionSubstitutions: {
        RotateFunctionArn: rotateFunction.functionArn,
        AlarmTopicArn: alarmTopic.topicArn,
      },
      logs: {
        destination: logGroup(scope, 'RotationLogs', config.logRetention),
        level: sfn.LogLevel.ALL,
        // Inputs and outputs carry only step names, actions and public key ids.
        includeExecutionData: true,
      },
      tracingEnabled: true,
    });
    const sfnRole = this.stateMachine.role;
    sfnRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'InvokeRotateStep',
      actions: ['lambda:InvokeFunction'],
      resources: [rotateFunction.functionArn],
    }));
    sfnRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'SingleExecutionLock',
      actions: ['states:ListExecutions'],
      resources: [arn('stateMachine', stateMachineName)],
    }));
    alarmTopic.grantPublish(sfnRole);

    new events.Rule(scope, 'RotationSchedule', {
      description: 'iamjwt: scheduled key rotation',
      schedule: config.rotationSchedule,
      targets: [new eventsTargets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromObject({ emergency: false }),
      })],
    });

    if (config.bootstrapOnCreate) {
      const role = new iam.Role(scope, 'FirstRotationRole', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: 'iamjwt first rotation at stack creation: start and watch the rotation state machine',
      });
      this.firstRotation = this.createFirstRotation(scope, role, arn('execution', `${stateMachineName}:*`), config, rotateFunction);
      acknowledgeWildcard(role, arn('execution', `${stateMachineName}:*`),
        'Execution ARNs exist only once started; the wildcard covers executions of this one state machine.');
    }

    acknowledge(sfnRole, 'AwsSolutions-IAM5[Resource::*]',
      'Added by CDK for Step Functions logging (logs:*LogDelivery, logs:PutResourcePolicy, logs:Describe*) and X-Ray tracing '
      + '(xray:PutTraceSegments, ...): these actions support no resource-level permissions.');
    acknowledge(sfnRole, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'Publishing to the KMS-encrypted alarm topic needs kms:GenerateDataKey* on that one key (granted by Topic.grantPublish).');
  }

  private createFirstRotation(
    scope: Construct, role: iam.Role, executionArns: string, config: ResolvedConfig, rotateFunction: lambda.IFunction,
  ): CustomResource {
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'StartRotation',
      actions: ['states:StartExecution'],
      resources: [this.stateMachine.stateMachineArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WatchRotation',
      actions: ['states:DescribeExecution'],
      resources: [executionArns],
    }));
    const fn = new lambda.Function(scope, 'FirstRotationFunction', {
      description: 'iamjwt: runs the key rotation once when the stack is created and waits for it',
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(BOOTSTRAP_CODE_DIR),
      memorySize: 128,
      timeout: Duration.minutes(14),
      role,
      logGroup: logGroup(scope, 'FirstRotationLogs', config.logRetention, role),
    });
    const resource = new CustomResource(scope, 'FirstRotation', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::IamJwtFirstRotation',
      // A change of the algorithm set updates the resource, which runs the rotation again: the deploy
      // bootstraps a new algorithm's keys (assets/bootstrap/index.js). The same for the regions of an issuer in
      // several: the deploy replicates the keys into a region just added.
      properties: {
        StateMachineArn: this.stateMachine.stateMachineArn,
        Algorithms: config.algorithms.join(','),
        ...(config.regions.length > 1 ? { Regions: config.regions.join(',') } : {}),
      },
      serviceTimeout: Duration.minutes(15),
    });
    // The run needs the rotate Lambda with its permissions in place, not just its ARN.
    resource.node.addDependency(rotateFunction, this.stateMachine);
    return resource;
  }
}
