import { Inject, Module, OnApplicationBootstrap } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { SecretBox } from './secret-box';
import { WebhookService } from './webhook.service';
import { WebhookStore } from './webhook.store';
import { WebhooksController } from './webhooks.controller';

export const secretBoxProvider = {
  provide: SecretBox,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) => new SecretBox(config.webhooks.encryptionKey),
};

/** The API process's part of CONTRACT §8: the admin routes. Deliveries are the worker's (WebhooksWorkerModule). */
@Module({
  imports: [AuthModule],
  controllers: [WebhooksController],
  providers: [WebhookStore, WebhookService, secretBoxProvider],
})
export class WebhooksApiModule implements OnApplicationBootstrap {
  constructor(
    private readonly secrets: SecretBox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly logger: AppLogger,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.secrets.encrypts) {
      this.logger.warn(
        'WEBHOOK_ENCRYPTION_KEY is not set: webhook signing secrets are stored unencrypted in PostgreSQL',
      );
    }
    if (this.config.webhooks.allowPrivate) {
      this.logger.warn('WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach private and loopback addresses');
    }
  }
}
