import { ApiProperty } from '@nestjs/swagger';
import { MessageType, ResultType } from './operation-result';

// These classes document the Adaxes-style door in the OpenAPI document; the shapes themselves are built in
// operation-result.ts and the request is checked in adaxes-request.ts.

export class DirectoryObjectBody {
  @ApiProperty({
    description:
      'The account: a distinguished name, a GUID (objectGUID, entryUUID or Entra object id; also `<GUID=…>`) ' +
      'or a SID (also `<SID=…>`). Any other form is refused with 400 invalidDirectoryObject.',
    example: 'CN=John Smith,CN=Users,DC=example,DC=com',
  })
  directoryObject!: string;
}

export class InnerMessageDto {
  @ApiProperty({ description: 'The provider id of the directory this message is about.', example: 'corp-ad' })
  source!: string;
  @ApiProperty({
    description: '`<provider> (<kind>): <status> (<outcome>) on <object>: <error code>: <error message>`',
    example: 'corp-ad (Active Directory): succeeded (enabled) on CN=John Smith,CN=Users,DC=example,DC=com',
  })
  text!: string;
  @ApiProperty({
    enum: Object.values(MessageType),
    description:
      "Adaxes' MessageType: 0 error (the directory failed), 1 warning (done with a follow-up failing, or " +
      'stopped: superseded or cancelled), 2 information.',
  })
  messageType!: number;
  @ApiProperty({
    type: () => [InnerMessageDto],
    description: 'The warnings of a directory that succeeded (messageType 1).',
  })
  innerMessages!: InnerMessageDto[];
}

export class OperationExceptionDto {
  @ApiProperty({
    description: "The task's error code (e.g. accountNotFound) or else its status.",
    example: 'partiallySuccessful',
  })
  code!: string;
  @ApiProperty({
    example: 'Disable task 6f1c… for CN=John Smith,… ended partiallySuccessful (ldap: failed).',
  })
  message!: string;
}

export class OperationResultDto {
  @ApiProperty({
    enum: Object.values(ResultType),
    description: '0: the task ended successful; 1: anything else (partiallySuccessful, unsuccessful).',
  })
  resultType!: number;
  @ApiProperty({ type: [InnerMessageDto], description: 'One message per directory the task covered.' })
  innerMessages!: InnerMessageDto[];
  @ApiProperty({ type: OperationExceptionDto, nullable: true, description: 'null when resultType is 0.' })
  exception!: OperationExceptionDto | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The DN of the account in Active Directory, else in OpenLDAP; null when neither resolved it.',
  })
  actualObjectDN!: string | null;
  @ApiProperty({ type: Object, example: {} })
  extraInfo!: Record<string, never>;
}

export class OperationStatusDto {
  @ApiProperty()
  completed!: boolean;
  @ApiProperty({ type: OperationResultDto, nullable: true, description: 'null until completed.' })
  operationResult!: OperationResultDto | null;
}

export class OperationAcceptedDto extends OperationStatusDto {
  @ApiProperty({
    format: 'uuid',
    description: 'Poll GET /restApi/api/runningOperations/{operationId}; it is also the task id of /api/v1.',
  })
  operationId!: string;
}

export class AdaxesErrorDto {
  @ApiProperty({
    example: { code: 'invalidDirectoryObject', message: 'directoryObject must be a DN, a GUID or a SID…' },
  })
  error!: { code: string; message: string };
}
