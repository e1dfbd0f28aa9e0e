import { BeforeApplicationShutdown, Module, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DestinationPolicy } from './destination-policy';
import { SafeHttpClient } from './safe-http-client';
import { WebhookRelay } from './webhook-relay';
import { WebhookStore } from './webhook.store';
import { secretBoxProvider } from './webhooks-api.module';

/** The worker process's part of CONTRACT §8: the relay that fans task events out and delivers them. */
@Module({
  providers: [
    WebhookStore,
    secretBoxProvider,
    {
      provide: SafeHttpClient,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new SafeHttpClient(new DestinationPolicy(config.webhooks)),
    },
    WebhookRelay,
  ],
  exports: [WebhookRelay],
})
export class WebhooksWorkerModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(private readonly relay: WebhookRelay) {}

  onApplicationBootstrap(): void {
    this.relay.start();
  }

  /** Before TypeORM closes its pool: attempts in flight record their results. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}
