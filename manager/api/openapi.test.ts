import { describe, expect, it } from '@jest/globals';
import { openApiPath } from './openapi.js';

describe('openapi › paths', () => {
  it('turns :params into {params} and :: into a literal colon', () => {
    expect(openApiPath('/v1/admin/domains/:domain/members::import')).toEqual({
      path: '/v1/admin/domains/{domain}/members:import',
      params: ['domain'],
    });
    expect(openApiPath('/a/:x/b/:y').params).toEqual(['x', 'y']);
  });
});
