/**
 * The rotation workflow file (`infra/rotation.asl.json`) is the single definition of the rotation steps:
 * Step Functions runs it in AWS and `iamjwt rotate` interprets it locally. CDK only substitutes the two
 * ARNs; this module checks at synth time that the file still has the shape the deployment relies on.
 */
import * as path from 'node:path';

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
