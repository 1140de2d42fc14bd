/**
 * The rotation workflow file (`infra/rotation.asl.json`) is the single definition of the rotation steps:
 * Step Functions runs it in AWS and `iamjwt rotate` interprets it locally. CDK only substitutes the two
 * ARNs; this module checks at synth time that the file still has the shape the deployment relies on,
 * including how each rotate step treats the rotate Lambda's error types (`infra/closed-sets.json`):
 * every retryable one is retried, no other one is, and every one is caught.
 */
import * as path from 'node:path';
import { NOT_RETRYABLE_STEP_ERRORS, RETRYABLE_STEP_ERRORS } from './closed-sets';

export const ROTATION_ASL_FILE = path.resolve(__dirname, '..', '..', 'infra', 'rotation.asl.json');

/** Placeholders CDK fills through DefinitionSubstitutions. */
export const ASL_SUBSTITUTIONS = ['RotateFunctionArn', 'AlarmTopicArn'] as const;

/**
 * Parse and check the workflow; returns it as compact JSON (the state machine's DefinitionString).
 * Throws with every problem found.
 */
export function checkRotationAsl(text: string, file = ROTATION_ASL_FILE): string {
  let definition: { StartAt?: unknown; States?: Record<string, Record<string, unknown>> };
  try {
    definition = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const problems: string[] = [];
  const states = definition.States ?? {};
  if (typeof definition.StartAt !== 'string' || !(definition.StartAt in states)) {
    problems.push('StartAt must name a state');
  }
  const placeholders = new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]));
  for (const p of placeholders) {
    if (!(ASL_SUBSTITUTIONS as readonly string[]).includes(p)) {
      problems.push(`unknown placeholder \${${p}} (CDK substitutes only ${ASL_SUBSTITUTIONS.map((s) => `\${${s}}`).join(', ')})`);
    }
  }
  // "Used" means used by a state, not merely mentioned in a Comment.
  const used = new Set([...JSON.stringify(withoutComments(definition)).matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]));
  for (const p of ASL_SUBSTITUTIONS) {
    if (!used.has(p)) problems.push(`placeholder \${${p}} is not used`);
  }
  for (const [name, state] of Object.entries(states)) {
    if (state.Resource === 'arn:aws:states:::lambda:invoke') {
      const params = state.Parameters as Record<string, unknown> | undefined;
      if (params?.FunctionName !== '${RotateFunctionArn}') {
        problems.push(`state ${name} invokes a Lambda other than \${RotateFunctionArn}: the state machine role may only invoke the rotate Lambda`);
      }
      problems.push(...checkStepErrors(name, state));
    }
  }
  if (problems.length > 0) {
    throw new Error(`${file}: ${problems.join('; ')}`);
  }
  return JSON.stringify(definition);
}

function withoutComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutComments);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'Comment').map(([k, x]) => [k, withoutComments(x)]));
  }
  return v;
}

/** The error names a state's Retry or Catch rules list. */
function errorsOf(state: Record<string, unknown>, field: 'Retry' | 'Catch'): string[] {
  const rules = state[field];
  return Array.isArray(rules) ? rules.flatMap((r) => (Array.isArray(r?.ErrorEquals) ? (r.ErrorEquals as string[]) : [])) : [];
}

/** Error names that match every error a Lambda function returns. */
const WILDCARDS = ['States.ALL', 'States.TaskFailed'];

/** A rotate step retries the retryable error types, never the others, and catches every one of them. */
function checkStepErrors(name: string, state: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const retried = errorsOf(state, 'Retry');
  const caught = errorsOf(state, 'Catch');
  const matches = (names: string[], e: string) => names.includes(e) || names.some((n) => WILDCARDS.includes(n));
  for (const e of RETRYABLE_STEP_ERRORS) {
    if (!retried.includes(e)) problems.push(`state ${name} does not retry the retryable error ${e}`);
  }
  for (const e of NOT_RETRYABLE_STEP_ERRORS) {
    if (matches(retried, e)) problems.push(`state ${name} retries ${e}, which is not retryable`);
  }
  for (const e of [...RETRYABLE_STEP_ERRORS, ...NOT_RETRYABLE_STEP_ERRORS]) {
    if (!matches(caught, e)) problems.push(`state ${name} does not catch ${e}`);
  }
  return problems;
}
