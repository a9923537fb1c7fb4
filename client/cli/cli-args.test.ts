import { describe, expect, it } from '@jest/globals';
import { adminCommands, parseAdminArgs } from './admin-command.js';
import { connectPlan } from './connect-options.js';
import { parseEnrollArgs } from './enroll-command.js';

const env = { GROVE_MANAGER_URL: 'http://manager:8080', GROVE_ADMIN_TOKEN: 'secret' };

describe('grove admin arguments', () => {
  it('finds a two-word command wherever the options are', () => {
    const parsed = parseAdminArgs(
      [
        '--manager',
        'http://m:1',
        'members',
        '--domain',
        'acme',
        'add',
        '--id',
        'bob',
        '--name',
        'Bob',
      ],
      env,
    );
    expect(parsed).toMatchObject({
      name: 'members add',
      managerUrl: 'http://m:1',
      token: 'secret',
      values: { domain: 'acme', id: 'bob', name: 'Bob' },
    });
  });

  it('takes the Manager URL and token from the environment, options first', () => {
    expect(parseAdminArgs(['usage', '--domain', 'acme'], env)).toMatchObject({
      name: 'usage',
      managerUrl: 'http://manager:8080',
      token: 'secret',
    });
    expect(parseAdminArgs(['usage', '--domain', 'acme', '--token', 't2'], env)).toMatchObject({
      token: 't2',
    });
  });

  it.each([
    [['members', 'list'], env, /missing --domain/],
    [['members', 'add', '--domain', 'acme', '--id', 'bob'], env, /missing --name/],
    [['members', 'list', '--domain', 'acme'], {}, /missing --manager URL \(or GROVE_MANAGER_URL\)/],
    [['members', 'list', '--domain', 'acme'], { GROVE_MANAGER_URL: 'http://m' }, /missing --token/],
    [
      ['members', 'list', '--domain', 'acme', '--manager', 'not a url'],
      env,
      /--manager "not a url"/,
    ],
    [
      ['members', 'list', '--domain', 'acme', '--member', 'x'],
      env,
      /--member is not an option of grove admin members list/,
    ],
    [['members', 'frobnicate'], env, /members takes list, get, add, update, delete, import/],
    [['nothing'], env, /unknown command "grove admin nothing"/],
    [['usage', 'extra', '--domain', 'a'], env, /unknown command/],
  ])('refuses %j with a usage error naming what is wrong', (args, environment, message) => {
    let caught: unknown;
    try {
      parseAdminArgs(args, environment);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'USAGE', exitCode: 2 });
    expect((caught as Error).message).toMatch(message);
  });

  it('shows help without a command, and every command in it', () => {
    expect(parseAdminArgs([], {})).toBe('help');
    expect(Object.keys(adminCommands)).toEqual(
      expect.arrayContaining([
        'members import',
        'codes issue',
        'devices revoke',
        'workspaces remove-member',
        'audit',
        'usage',
      ]),
    );
  });
});

describe('grove enroll arguments', () => {
  it('defaults the device name to the host name and trims the Manager URL', () => {
    expect(
      parseEnrollArgs(
        ['--manager', 'http://m:8080/', '--code', 'acme.ABCDEFGHIJKLMNOPQRST', '--state', '/s'],
        'laptop',
      ),
    ).toEqual({
      managerUrl: 'http://m:8080',
      code: 'acme.ABCDEFGHIJKLMNOPQRST',
      stateDir: '/s',
      deviceName: 'laptop',
      force: false,
    });
  });

  it.each([
    [['--code', 'acme.X1234567', '--state', '/s'], /missing --manager/],
    [
      ['--manager', 'ftp://m', '--code', 'acme.X1234567', '--state', '/s'],
      /http:\/\/ or https:\/\//,
    ],
    [['--manager', 'http://m', '--code', 'nodot', '--state', '/s'], /--code must be/],
    [['--manager', 'http://m', '--code', 'acme.X1234567'], /missing --state/],
  ])('refuses %j', (args, message) => {
    expect(() => parseEnrollArgs(args, 'host')).toThrow(message);
  });
});

describe('client connection options', () => {
  it('needs --relay and --token unless a state directory is given', () => {
    expect(() => connectPlan({ token: 't' })).toThrow(/missing --relay/);
    expect(() => connectPlan({ relay: 'ws://r' })).toThrow(/missing --token/);
    expect(connectPlan({ state: '/s' })).toEqual({
      relays: undefined,
      token: undefined,
      transport: 'auto',
      stateDir: '/s',
    });
  });

  it('lets explicit relays override the state', () => {
    expect(connectPlan({ state: '/s', relay: 'ws://a:1,ws://b:2' }).relays).toEqual([
      'ws://a:1',
      'ws://b:2',
    ]);
  });
});
