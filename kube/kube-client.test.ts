import { describe, expect, it } from '@jest/globals';
import {
  errorFromResponse,
  errorFromWatchStatus,
  KubeApiError,
  parseStatus,
  resourcePath,
  resourceTypeOf,
  withQuery,
} from './kube-client.js';
import type { ResourceType } from './kube-object.js';
import { resourceTypes } from './resource-types.js';

describe('kube client › URLs', () => {
  it('puts the core group under /api/v1 and the others under /apis/<group>/<version>', () => {
    expect(resourcePath(resourceTypes.configMaps, { namespace: 'ns', name: 'cm' })).toBe(
      '/api/v1/namespaces/ns/configmaps/cm',
    );
    expect(resourcePath(resourceTypes.deployments, { namespace: 'ns', name: 'web' })).toBe(
      '/apis/apps/v1/namespaces/ns/deployments/web',
    );
    expect(resourcePath(resourceTypes.relayPools, { namespace: 'ns', name: 'p' })).toBe(
      '/apis/grove.dev/v1alpha1/namespaces/ns/relaypools/p',
    );
  });

  it('builds namespaced and all-namespaces collections', () => {
    expect(resourcePath(resourceTypes.leases, { namespace: 'kube-system' })).toBe(
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases',
    );
    expect(resourcePath(resourceTypes.relayPools)).toBe('/apis/grove.dev/v1alpha1/relaypools');
    expect(resourcePath(resourceTypes.services, { namespace: '' })).toBe('/api/v1/services');
  });

  it('builds cluster-scoped paths and subresources', () => {
    expect(resourcePath(resourceTypes.namespaces, { name: 'grove' })).toBe(
      '/api/v1/namespaces/grove',
    );
    expect(
      resourcePath(resourceTypes.relayPools, { namespace: 'ns', name: 'p', subresource: 'status' }),
    ).toBe('/apis/grove.dev/v1alpha1/namespaces/ns/relaypools/p/status');
    expect(
      resourcePath(resourceTypes.statefulSets, {
        namespace: 'ns',
        name: 's',
        subresource: 'scale',
      }),
    ).toBe('/apis/apps/v1/namespaces/ns/statefulsets/s/scale');
  });

  it('escapes what must not be taken as path syntax', () => {
    expect(resourcePath(resourceTypes.configMaps, { namespace: 'ns', name: 'a/b?c' })).toBe(
      '/api/v1/namespaces/ns/configmaps/a%2Fb%3Fc',
    );
  });

  it('refuses paths that cannot address anything', () => {
    expect(() => resourcePath(resourceTypes.configMaps, { name: 'cm' })).toThrow(
      /ConfigMap "cm" is namespaced/,
    );
    expect(() => resourcePath(resourceTypes.namespaces, { namespace: 'x', name: 'y' })).toThrow(
      /cluster-scoped/,
    );
    expect(() =>
      resourcePath(resourceTypes.configMaps, { namespace: 'ns', subresource: 'status' }),
    ).toThrow(/needs an object name/);
    expect(() => resourcePath(resourceTypes.configMaps, { namespace: 'ns', name: '' })).toThrow(
      /empty ConfigMap name/,
    );
  });

  it('encodes query parameters and drops undefined ones', () => {
    expect(
      withQuery('/api/v1/pods', {
        labelSelector: 'app.kubernetes.io/managed-by=grove-operator,tier in (a,b)',
        limit: 500,
        watch: true,
        continue: undefined,
      }),
    ).toBe(
      '/api/v1/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgrove-operator%2Ctier+in+%28a%2Cb%29&limit=500&watch=true',
    );
    expect(withQuery('/api/v1/pods', { continue: undefined })).toBe('/api/v1/pods');
  });

  it('finds the resource type of an object from apiVersion and kind', () => {
    expect(resourceTypeOf({ apiVersion: 'apps/v1', kind: 'StatefulSet' })).toBe(
      resourceTypes.statefulSets,
    );
    expect(resourceTypeOf({ apiVersion: 'grove.dev/v1alpha1', kind: 'Domain' })).toBe(
      resourceTypes.domains,
    );
    expect(() => resourceTypeOf({ apiVersion: 'v1', kind: 'Pod' })).toThrow(/unknown kind v1 Pod/);
  });

  it('builds the same path for a hand-written ResourceType', () => {
    const widgets: ResourceType = {
      group: 'example.com',
      version: 'v1',
      kind: 'Widget',
      plural: 'widgets',
      namespaced: true,
    };
    expect(resourcePath(widgets, { namespace: 'n', name: 'w' })).toBe(
      '/apis/example.com/v1/namespaces/n/widgets/w',
    );
  });
});

describe('kube client › errors', () => {
  const conflict = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message:
      'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again',
    reason: 'Conflict',
    details: { name: 'a', kind: 'configmaps' },
    code: 409,
  });

  it('says which call failed, its status and what the API server said', () => {
    const error = errorFromResponse('PUT', '/api/v1/namespaces/ns/configmaps/a', 409, conflict);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error.code).toBe(409);
    expect(error.reason).toBe('Conflict');
    expect(error.message).toBe(
      'PUT /api/v1/namespaces/ns/configmaps/a: 409 Conflict: Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(error.status).toMatchObject({ details: { name: 'a' } });
  });

  it('falls back to the HTTP status and the raw body when the body is not a Status', () => {
    const error = errorFromResponse('GET', '/apis/x/v1/things', 404, '404 page not found\n');
    expect(error.reason).toBe('NotFound');
    expect(error.message).toBe('GET /apis/x/v1/things: 404 NotFound: 404 page not found');
    expect(error.status).toBeUndefined();
    expect(errorFromResponse('GET', '/x', 502, '').message).toBe(
      'GET /x: 502 Unknown: (empty body)',
    );
  });

  it('reads only Status objects as Status', () => {
    expect(parseStatus('{"kind":"ConfigMap"}')).toBeUndefined();
    expect(parseStatus('not json')).toBeUndefined();
    expect(parseStatus('{"kind":"Status","code":403,"reason":"Forbidden"}')).toEqual({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
    });
  });

  it('gives a watch ERROR event its own code: 410 Expired is recognisable', () => {
    const error = errorFromWatchStatus('/api/v1/configmaps?watch=true', {
      code: 410,
      reason: 'Expired',
      message: 'too old resource version: 1 (200)',
    });
    expect(error.code).toBe(410);
    expect(error.isGone).toBe(true);
    expect(error.message).toMatch(/ERROR event 410 Expired: too old resource version/);
  });
});
