import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IamJwtIssuer } from '../lib/iamjwt-issuer';
import { IamJwtStack, IamJwtStackProps } from '../lib/iamjwt-stack';
import { IamJwtIssuerProps } from '../lib/props';

/** Fake `bootstrap` binaries in cargo-lambda's layout, so tests need no Rust build. */
export const STUB_LAMBDA_DIR = path.join(__dirname, 'fixtures', 'lambda');

/** The app's feature flags, so tests synthesize what `cdk synth` does. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const CDK_CONTEXT: Record<string, unknown> = require('../cdk.json').context;

export const BASE_PROPS: IamJwtIssuerProps = { defaultAudience: 'api://iamjwt-test', lambdaCodeDir: STUB_LAMBDA_DIR };

export interface Synth {
  readonly app: App;
  readonly stack: IamJwtStack;
  readonly issuer: IamJwtIssuer;
  readonly template: Template;
}

export function synth(props: Partial<IamJwtIssuerProps> = {}, stackProps: Partial<IamJwtStackProps> = {}): Synth {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new IamJwtStack(app, 'Test', { ...stackProps, issuer: { ...BASE_PROPS, ...props } });
  return { app, stack, issuer: stack.issuer, template: Template.fromStack(stack) };
}

/** Build only the construct (for validation errors): throws what `new IamJwtIssuer` throws. */
export function build(props: Partial<IamJwtIssuerProps>, env?: { region?: string; account?: string }): IamJwtIssuer {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new Stack(app, 'Validate', { env });
  return new IamJwtIssuer(stack, 'Issuer', { ...BASE_PROPS, ...props } as IamJwtIssuerProps);
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every AWS::IAM::Policy attached to the given role (by construct). */
export function roleStatements(s: Synth, role: { node: { defaultChild?: unknown } }): Statement[] {
  const roleId = s.stack.getLogicalId(role.node.defaultChild as never);
  const policies = s.template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

export const actions = (st: Statement): string[] => (Array.isArray(st.Action) ? st.Action : [st.Action]);

/** All actions a set of statements allows. */
export const allowedActions = (sts: Statement[]): string[] =>
  [...new Set(sts.filter((st) => st.Effect === 'Allow').flatMap(actions))].sort();

/** The statements that allow `action`. */
export const allowing = (sts: Statement[], action: string): Statement[] =>
  sts.filter((st) => st.Effect === 'Allow' && actions(st).includes(action));

/** Render a CloudFormation value (Fn::Join of literals and refs) as a readable string. */
export function flat(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(flat).join(sep);
    }
    if ('Ref' in o) return `<${o.Ref}>`;
    if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
  }
  return JSON.stringify(v);
}

/** The logical id of a construct's CloudFormation resource in the synthesized stack. */
export const logicalId = (s: Synth, c: { node: { defaultChild?: unknown } }): string => s.stack.getLogicalId(c.node.defaultChild as never);
