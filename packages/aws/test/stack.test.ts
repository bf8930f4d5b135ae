import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { makeToken, startTestGateway } from '../../../test-support/harness.js';
import { connect, type OpenEventMap } from '../../client/src/node.js';
import { bundleLambdaHandlers } from '../src/cdk/bundle.js';
import { ClasswireStack, type ClasswireStackProps } from '../src/cdk/stack.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
let assetDir: string;
let template: Template;

type Resource = { Type: string; Properties: Record<string, unknown> };

beforeAll(async () => {
  // The real bundle, built as `cdk synth` builds it.
  assetDir = await bundleLambdaHandlers(join(mkdtempSync(join(tmpdir(), 'cw-asset-')), 'lambda'));
  template = synth();
});
afterAll(() => {
  rmSync(join(assetDir, '..'), { recursive: true, force: true });
});

function synth(props: Partial<ClasswireStackProps> = {}): Template {
  // Synthesized under the test's temporary folder (removed after the file), not a new /tmp/cdk.out* each time.
  const app = new App({ outdir: mkdtempSync(join(assetDir, '..', 'cdk.out-')) });
  return Template.fromStack(new ClasswireStack(app, 'ClasswireTest', { assetDir, ...props }));
}

function resources(type: string, from = template): Record<string, Resource> {
  return from.findResources(type) as Record<string, Resource>;
}

function functionsByHandler(from = template): Record<string, Resource & { id: string }> {
  return Object.fromEntries(Object.entries(resources('AWS::Lambda::Function', from)).map(([id, r]) => [String(r.Properties.Handler), { ...r, id }]));
}

describe('the Lambda bundle', () => {
  it('holds one ESM module with every handler, and the Lua scripts the core loads', () => {
    expect(existsSync(join(assetDir, 'index.mjs'))).toBe(true);
    expect(existsSync(join(assetDir, 'lua', 'append.lua'))).toBe(true);
  });

  it('runs behind the API Gateway emulator: the SDK joins, publishes and receives through the bundled handlers', async () => {
    const redis = await RedisProcess.start();
    const gateway = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_APIGW_HANDLER_MODULE: join(assetDir, 'index.mjs'),
    });
    const client = connect<OpenEventMap>({ url: `${gateway.url.replace('http', 'ws')}/ws`, token: await makeToken({ rooms: ['bundle'] }) });
    const room = client.join('bundle');
    await room.ready;
    const received = new Promise((resolve) => room.on('chat.message', (m) => resolve(m.data)));
    expect(await room.publish('chat.message', 'from the bundle')).toBe(1);
    expect(await received).toBe('from the bundle');
    client.close();
    await gateway.drain();
    await redis.stop();
  });
});

describe('the CDK stack (synthesized offline)', () => {
  it('passes the coalescing window to the handlers only when set (their default is 50 ms)', () => {
    const variables = (from: Template) => functionsByHandler(from)['index.message']!.Properties.Environment as { Variables: Record<string, unknown> };
    expect(variables(template).Variables.CLASSWIRE_COALESCE_MS).toBeUndefined();
    expect(variables(synth({ coalesceMs: 0 })).Variables.CLASSWIRE_COALESCE_MS).toBe('0');
  });

  it('defines a WebSocket API routing on action, with $connect, $disconnect and $default', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 3);
    const routes = Object.values(resources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['$connect', '$default', '$disconnect']);
    expect(routes.find((r) => r.RouteKey === '$connect')).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: expect.anything() });
    expect(routes.filter((r) => r.AuthorizationType === 'CUSTOM')).toHaveLength(1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'prod',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 500 },
    });
  });

  it('authorizes $connect with a REQUEST authorizer on the token query parameter', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
  });

  it('runs every handler on Node 24, arm64, from the pre-built asset; the Redis users in private subnets', () => {
    const fns = functionsByHandler();
    expect(Object.keys(fns).sort()).toEqual(['index.authorizer', 'index.connect', 'index.disconnect', 'index.message', 'index.sweep']);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'] });
      expect(fn.Properties.Code).toMatchObject({ S3Key: expect.stringMatching(/\.zip$/) });
    }
    const privateSubnets = Object.keys(resources('AWS::EC2::Subnet')).filter((id) => id.includes('private'));
    expect(privateSubnets).toHaveLength(2);
    const handlerGroup = Object.keys(resources('AWS::EC2::SecurityGroup')).find((id) => id.startsWith('HandlerSecurityGroup'))!;
    for (const handler of ['index.connect', 'index.disconnect', 'index.message', 'index.sweep']) {
      const vpcConfig = fns[handler]!.Properties.VpcConfig as { SubnetIds: { Ref: string }[]; SecurityGroupIds: unknown[] };
      expect(vpcConfig.SubnetIds.map((s) => s.Ref).sort()).toEqual(privateSubnets.sort());
      expect(vpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [handlerGroup, 'GroupId'] }]);
      expect(fns[handler]!.Properties.Environment).toMatchObject({
        Variables: { CLASSWIRE_REDIS_URL: { 'Fn::Join': ['', expect.arrayContaining(['rediss://'])] }, WS_CALLBACK_URL: expect.anything() },
      });
    }
    // The authorizer uses no Redis: outside the VPC, it needs no NAT to reach JWKS or Secrets Manager.
    expect(fns['index.authorizer']!.Properties.VpcConfig).toBeUndefined();
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    expect(synth({ natGateways: 2 }).findResources('AWS::EC2::NatGateway')).toSatisfy((r: object) => Object.keys(r).length === 2);
  });

  it('keeps Redis in a replication group across two zones, failing over automatically, encrypted, reachable from the handlers only', () => {
    const redisGroup = Object.keys(resources('AWS::EC2::SecurityGroup')).find((id) => id.startsWith('RedisSecurityGroup'))!;
    const handlerGroup = Object.keys(resources('AWS::EC2::SecurityGroup')).find((id) => id.startsWith('HandlerSecurityGroup'))!;
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'redis',
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
      SecurityGroupIds: [{ 'Fn::GetAtt': [redisGroup, 'GroupId'] }],
      CacheSubnetGroupName: { Ref: Match.stringLikeRegexp('^RedisSubnets') },
    });
    // The only way in: the handlers' security group, on the Redis port.
    const ingress = [
      ...Object.values(resources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties),
      ...((resources('AWS::EC2::SecurityGroup')[redisGroup]!.Properties.SecurityGroupIngress as object[] | undefined) ?? []),
    ].filter((rule) => JSON.stringify(rule).includes(redisGroup));
    expect(ingress).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 6379,
        ToPort: 6379,
        GroupId: { 'Fn::GetAtt': [redisGroup, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [handlerGroup, 'GroupId'] },
      }),
    ]);
    expect(JSON.stringify(resources('AWS::EC2::SecurityGroup')[redisGroup])).not.toContain('0.0.0.0/0');
    template.hasResourceProperties('AWS::ElastiCache::SubnetGroup', { SubnetIds: Match.arrayWith([{ Ref: Match.stringLikeRegexp('private') }]) });
  });

  it('grants execute-api:ManageConnections on this API\'s stage only, to the functions that post', () => {
    const apiId = Object.keys(resources('AWS::ApiGatewayV2::Api'))[0]!;
    const statements = Object.values(resources('AWS::IAM::Policy')).flatMap((p) =>
      ((p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement ?? []).map((s) => ({
        ...s,
        roles: p.Properties.Roles,
      })),
    );
    const manage = statements.filter((s) => ([] as string[]).concat(s.Action).includes('execute-api:ManageConnections'));
    expect(manage).toHaveLength(4);
    for (const statement of manage) {
      const resource = JSON.stringify(statement.Resource);
      expect(resource).toContain(`"Ref":"${apiId}"`);
      expect(resource).toContain('/prod/*/@connections/*');
      expect(statement.Resource).not.toBe('*');
    }
    const fns = functionsByHandler();
    const authorizerRole = (fns['index.authorizer']!.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    expect(JSON.stringify(manage.map((s) => s.roles))).not.toContain(authorizerRole);
  });

  it('keeps each function\'s logs in a log group with a retention', () => {
    const groups = resources('AWS::Logs::LogGroup');
    expect(Object.keys(groups)).toHaveLength(5);
    for (const group of Object.values(groups)) expect(group.Properties.RetentionInDays).toBe(30);
    for (const fn of Object.values(functionsByHandler())) {
      const logGroup = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(Object.keys(groups)).toContain(logGroup);
    }
  });

  it('has a dashboard of connections, messages, errors, latency and Redis health, and alarms', () => {
    const body = JSON.stringify(Object.values(resources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const metric of ['ConnectCount', 'MessageCount', 'ClientError', 'ExecutionError', 'IntegrationError', 'IntegrationLatency', 'Throttles', 'Errors', 'EngineCPUUtilization', 'DatabaseMemoryUsagePercentage', 'ReplicationLag', 'CurrConnections', 'GonePosts']) {
      expect(body).toContain(metric);
    }
    const alarms = Object.values(resources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms).toHaveLength(15);
    // Each alarm's metric (the handler-errors alarm sums the Errors of every function).
    const watched = alarms.map((a) => [...new Set([...JSON.stringify(a).matchAll(/"MetricName":"(\w+)"/g)].map((m) => m[1]))].join('+'));
    expect(watched.sort()).toEqual(
      [
        'ClientError', 'DatabaseMemoryUsagePercentage', 'EngineCPUUtilization', 'Errors', 'Evictions', 'ExecutionError', 'FailedPosts',
        'IntegrationError', 'IntegrationLatency', 'ReplicationLag', 'Throttles', 'Throttles', 'Throttles', 'Throttles', 'Throttles',
      ].sort(),
    );
    // The fan-out metrics carry the stack's name: two stacks in one account never share an alarm's data.
    const failedPosts = alarms.find((a) => JSON.stringify(a).includes('"FailedPosts"'))!;
    expect(failedPosts.Dimensions).toEqual([{ Name: 'Node', Value: 'ClasswireTest' }]);
    for (const handler of ['index.connect', 'index.message', 'index.disconnect', 'index.sweep']) {
      expect((functionsByHandler()[handler]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables.CLASSWIRE_NODE_ID).toBe('ClasswireTest');
    }
    // Every function has its own throttle alarm.
    const throttled = alarms.filter((a) => JSON.stringify(a).includes('"Throttles"')).map((a) => JSON.stringify(a.Dimensions));
    const fnIds = Object.values(functionsByHandler()).map((fn) => fn.id);
    for (const id of fnIds) expect(throttled.filter((d) => d.includes(`"Ref":"${id}"`))).toHaveLength(1);
    // A failover makes the other node the primary: every Redis alarm watches both cache clusters.
    for (const metric of ['EngineCPUUtilization', 'DatabaseMemoryUsagePercentage', 'Evictions', 'ReplicationLag']) {
      const redisAlarm = JSON.stringify(alarms.find((a) => JSON.stringify(a).includes(`"${metric}"`)));
      expect(redisAlarm).toMatch(/-redis-001/);
      expect(redisAlarm).toMatch(/-redis-002/);
    }
    const withEmail = synth({ alarmEmail: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    for (const alarm of Object.values(withEmail.findResources('AWS::CloudWatch::Alarm')) as Resource[]) {
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
    }
  });

  it('traces with X-Ray and writes API access logs only when asked', () => {
    for (const fn of Object.values(functionsByHandler())) expect(fn.Properties.TracingConfig).toBeUndefined();
    expect(JSON.stringify(resources('AWS::ApiGatewayV2::Stage'))).not.toContain('AccessLogSettings');
    const observed = synth({ tracing: true, accessLogs: true });
    for (const fn of Object.values(functionsByHandler(observed))) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
    const stage = Object.values(observed.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource;
    const settings = stage.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };
    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^AccessLogs/), 'Arn'] });
    expect(JSON.parse(settings.Format)).toMatchObject({ requestId: '$context.requestId', connectionId: '$context.connectionId', status: '$context.status' });
  });

  it('sweeps every 5 minutes, and keeps the token secret in Secrets Manager readable by the authorizer only', () => {
    const fns = functionsByHandler();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fns['index.sweep']!.id, 'Arn'] } })],
    });
    const secret = Object.keys(resources('AWS::SecretsManager::Secret'))[0]!;
    expect(fns['index.authorizer']!.Properties.Environment).toEqual({ Variables: expect.objectContaining({ CLASSWIRE_JWT_SECRET_ARN: { Ref: secret } }) });
    const readers = Object.values(resources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue'));
    expect(readers).toHaveLength(1);
    // With a JWKS URL nothing secret is stored.
    const jwks = synth({ jwt: { jwksUrl: 'https://idp.example/.well-known/jwks.json', issuer: 'https://idp.example' } });
    jwks.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(functionsByHandler(jwks)['index.authorizer']!.Properties.Environment).toEqual({
      Variables: expect.objectContaining({ CLASSWIRE_JWKS_URL: 'https://idp.example/.well-known/jwks.json', CLASSWIRE_JWT_ISSUER: 'https://idp.example' }),
    });
  });
});

describe('the CDK CLI', () => {
  it('synthesizes with `cdk synth` from the sources: the app bundles the handlers itself and writes where the CLI says', async () => {
    const output = mkdtempSync(join(tmpdir(), 'cw-cdk-out-'));
    try {
      const cdk = join(packageDir, '..', '..', 'node_modules', '.bin', 'cdk');
      await promisify(execFile)(cdk, ['synth', '--no-notices', '--quiet', '--output', output], {
        cwd: packageDir,
        // Offline, and no telemetry from a test run.
        env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', CLASSWIRE_STACK_NAME: 'ClasswireCliTest' },
        timeout: 120_000,
      });
      const manifest = JSON.parse(readFileSync(join(output, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { type: string }> };
      expect(manifest.artifacts.ClasswireCliTest?.type).toBe('aws:cloudformation:stack');
      const synthesized = JSON.parse(readFileSync(join(output, 'ClasswireCliTest.template.json'), 'utf8')) as { Resources: Record<string, { Type: string }> };
      expect(Object.values(synthesized.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(5);
      // The staged asset is the bundle that synth just built.
      const staged = readdirSync(output).filter((name) => name.startsWith('asset.'));
      expect(staged.some((dir) => existsSync(join(output, dir, 'index.mjs')) && existsSync(join(output, dir, 'lua', 'append.lua')))).toBe(true);
    } finally {
      rmSync(output, { recursive: true, force: true });
    }
  }, 150_000);
});
