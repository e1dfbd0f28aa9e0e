import { HttpException } from '@nestjs/common';
import { badRequest, conflict, DomainError, notFound } from '@app/domain';
import { checkBatch, checkItem, itemForError, MAX_BATCH_ITEMS } from './vision-one-batch';
import { toVisionOneError, VisionOneHttpError } from './vision-one-errors';

const locate = (id: string) => `https://engine.example/v3.0/response/tasks/${id}`;

describe('Vision One batch items', () => {
  it('maps the engine refusals onto the shapes of Trend mock-up files, keeping the engine code', () => {
    expect(
      itemForError(conflict('taskInProgress', 'A Disable is running.', { taskId: 't-1' }), locate),
    ).toEqual({
      status: 400,
      headers: [{ name: 'Operation-Location', value: locate('t-1') }],
      body: {
        error: {
          code: 'TaskError',
          message: 'Task duplication.',
          innererror: { code: 'taskInProgress', message: 'A Disable is running.', taskId: 't-1' },
        },
      },
    });
    expect(itemForError(conflict('noPriorDisableTask', 'Nothing to reverse.'), locate)).toEqual({
      status: 400,
      body: {
        error: {
          code: 'BadRequest',
          message: 'Target not found.',
          innererror: { code: 'noPriorDisableTask', message: 'Nothing to reverse.' },
        },
      },
    });
    expect(
      itemForError(conflict('ambiguousAccount', 'Two accounts.', { candidates: ['a', 'b'] }), locate),
    ).toEqual({
      status: 400,
      body: {
        error: {
          code: 'BadRequest',
          message: 'Two accounts.',
          innererror: { code: 'ambiguousAccount', message: 'Two accounts.', candidates: ['a', 'b'] },
        },
      },
    });
    expect(itemForError(badRequest('invalidAccount', 'not an identifier'), locate).body?.error.message).toBe(
      'Invalid request - Invalid field format: accountName.',
    );
    expect(itemForError(badRequest('invalidDescription', 'too long'), locate).body?.error.message).toBe(
      'Invalid request - Invalid field format: description.',
    );
  });

  it('answers a duplication without a task id without an Operation-Location', () => {
    const item = itemForError(conflict('taskInProgress', 'An Enable is in progress.'), locate);
    expect(item.status).toBe(400);
    expect(item.headers).toBeUndefined();
  });

  it('keeps any other refusal in its own status, in Vision One words', () => {
    expect(itemForError(new DomainError(503, 'noProvidersConfigured', 'No directories.'), locate)).toEqual({
      status: 503,
      body: {
        error: {
          code: 'ServiceUnavailable',
          message: 'No directories.',
          innererror: { code: 'noProvidersConfigured' },
        },
      },
    });
  });

  it('tells nothing about a bug', () => {
    const item = itemForError(new Error('relation "tasks" does not exist at 10.0.0.5'), locate);
    expect(item).toEqual({
      status: 500,
      body: { error: { code: 'InternalServerError', message: 'Internal server error.' } },
    });
  });

  it('checks the field names only this door has', () => {
    expect(checkItem({ accountName: 'jdoe', description: 'x' })).toEqual({
      accountName: 'jdoe',
      description: 'x',
    });
    expect(checkItem({ accountname: 'jdoe' })).toMatchObject({
      status: 400,
      body: { error: { message: 'Invalid request - Required fields not found: accountName.' } },
    });
    expect(checkItem({ accountName: ['jdoe'] })).toMatchObject({
      body: { error: { message: 'Invalid request - Invalid field format: accountName.' } },
    });
  });

  it.each([[{}], [[]], ['[]'], [null], [[1]], [Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({}))]])(
    'refuses the body %j as a whole',
    (body) => {
      expect(() => checkBatch(body)).toThrow(VisionOneHttpError);
    },
  );
});

describe('Vision One error answers', () => {
  it.each([
    [
      new DomainError(401, 'unauthorized', 'An API key is required.'),
      401,
      'Unauthorized',
      'An API key is required.',
    ],
    [
      new DomainError(403, 'forbidden', 'The API key lacks the tasks:write scope.'),
      403,
      'AccessDenied',
      'Insufficient permissions.',
    ],
    [notFound('taskNotFound', 'No task with id x.'), 404, 'NotFound', 'Not found.'],
    [
      new DomainError(422, 'idempotencyKeyReused', 'Used with another request.'),
      422,
      'UnprocessableEntity',
      'Used with another request.',
    ],
    [new HttpException('Cannot GET /x', 404), 404, 'NotFound', 'Not found.'],
  ])('answers %s as %i %s', (e, status, code, message) => {
    const answer = toVisionOneError(e);
    expect(answer.status).toBe(status);
    expect(answer.error).toMatchObject({ code, message });
  });
});
