import { ConfigError, loadConfig } from '../config';

describe('configuration', () => {
  it('defaults to the simulated PSP and embedded services', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, databaseUrl: undefined, psp: { kind: 'simulated' }, temporal: { address: undefined } });
  });

  it('reads the Stripe settings, including a stand-in address', () => {
    const config = loadConfig({
      PSP: 'stripe',
      STRIPE_SECRET_KEY: 'sk_test_abc123',
      STRIPE_WEBHOOK_SECRET: 'whsec_abc',
      STRIPE_API_BASE: 'http://localhost:8420',
    });
    expect(config.psp).toEqual({
      kind: 'stripe',
      secretKey: 'sk_test_abc123',
      webhookSecret: 'whsec_abc',
      apiBase: { protocol: 'http', host: 'localhost', port: 8420 },
    });
  });

  it('stops start-up naming every missing or malformed setting', () => {
    expect(() => loadConfig({ PSP: 'stripe' })).toThrow(ConfigError);
    expect(() => loadConfig({ PSP: 'stripe' })).toThrow(/STRIPE_SECRET_KEY: is required when PSP=stripe[\s\S]*STRIPE_WEBHOOK_SECRET: is required/);
    expect(() => loadConfig({ PSP: 'stripe', STRIPE_SECRET_KEY: 'pk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_x' })).toThrow(
      /STRIPE_SECRET_KEY: must be a Stripe secret key/,
    );
    expect(() => loadConfig({ STRIPE_API_BASE: 'localhost:8420' })).toThrow(/STRIPE_API_BASE/);
    expect(() => loadConfig({ PSP: 'paypal' })).toThrow(/PSP/);
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/);
  });
});
