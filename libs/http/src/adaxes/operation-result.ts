import type { ProviderKind } from '@app/domain';
import { STOPPED_OUTCOMES } from '@app/domain';
import type { TargetView, TaskView } from '@app/engine';

/**
 * Adaxes' `MessageType` enumeration (https://adaxes.com/sdk/MessageType): the numbers a client written against
 * Adaxes already understands. Only the first three have a meaning here.
 */
export const MessageType = { error: 0, warning: 1, information: 2 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Adaxes `OperationResult.resultType`: 0 success; 1 error (2, sent for approval, has no counterpart here). */
export const ResultType = { success: 0, error: 1 } as const;
export type ResultType = (typeof ResultType)[keyof typeof ResultType];

export interface InnerMessage {
  source: string;
  text: string;
  messageType: MessageType;
  innerMessages: InnerMessage[];
}

export interface OperationResult {
  resultType: ResultType;
  innerMessages: InnerMessage[];
  exception: { code: string; message: string } | null;
  actualObjectDN: string | null;
  extraInfo: Record<string, never>;
}

export interface OperationStatus {
  completed: boolean;
  operationResult: OperationResult | null;
}

const KIND_NAMES: Record<ProviderKind, string> = {
  activeDirectory: 'Active Directory',
  openLdap: 'OpenLDAP',
  entraId: 'Entra ID',
  okta: 'Okta',
};

/**
 * The task as Adaxes reports an operation. Only a `successful` task is resultType 0: a playbook written
 * against Adaxes branches on that number alone, so a partial result must not pass for a success.
 */
export function toOperationResult(task: TaskView): OperationResult {
  const successful = task.status === 'successful';
  return {
    resultType: successful ? ResultType.success : ResultType.error,
    innerMessages: task.targets.map(targetMessage),
    exception: successful ? null : { code: task.error?.code ?? task.status, message: failureSummary(task) },
    actualObjectDN: actualObjectDN(task.targets),
    extraInfo: {},
  };
}

export function toOperationStatus(task: TaskView): OperationStatus {
  const completed = task.status !== 'inProgress';
  return { completed, operationResult: completed ? toOperationResult(task) : null };
}

function targetMessage(t: TargetView): InnerMessage {
  const outcome = t.outcome ? ` (${t.outcome})` : '';
  const object = t.objectId ? ` on ${t.objectId}` : '';
  const error = t.error ? `: ${t.error.code}: ${t.error.message}` : '';
  return {
    source: t.provider,
    text: `${t.provider} (${KIND_NAMES[t.kind]}): ${t.status}${outcome}${object}${error}`,
    messageType: messageTypeOf(t),
    innerMessages: t.warnings.map((w) => ({
      source: t.provider,
      text: `${w.code}: ${w.message}`,
      messageType: MessageType.warning,
      innerMessages: [],
    })),
  };
}

function messageTypeOf(t: TargetView): MessageType {
  if (t.status === 'failed') return MessageType.error;
  const stopped = t.status === 'skipped' && t.outcome !== null && STOPPED_OUTCOMES.includes(t.outcome);
  return stopped || t.warnings.length ? MessageType.warning : MessageType.information;
}

function failureSummary(task: TaskView): string {
  const what = `${task.action === 'disableAccount' ? 'Disable' : 'Enable'} task ${task.id} for ${task.account}`;
  if (task.error) return `${what} ended ${task.status}: ${task.error.message}`;
  const reasons = task.targets.flatMap((t) => {
    if (t.status === 'failed') return [`${t.provider}: ${t.error?.code ?? 'failed'}`];
    if (t.status === 'skipped' && t.outcome && STOPPED_OUTCOMES.includes(t.outcome))
      return [`${t.provider}: ${t.outcome}`];
    return [];
  });
  return `${what} ended ${task.status}${reasons.length ? ` (${reasons.join('; ')})` : ''}.`;
}

/** Adaxes names the object it acted on by its DN; only the LDAP directories have one, and AD is Adaxes' own. */
function actualObjectDN(targets: readonly TargetView[]): string | null {
  const dnOf = (kind: ProviderKind) => targets.find((t) => t.kind === kind && t.objectId)?.objectId;
  return dnOf('activeDirectory') ?? dnOf('openLdap') ?? null;
}
