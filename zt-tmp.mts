import { domainSchema, formatIssues } from './crds/index.js';
const r = domainSchema.safeParse({ apiVersion: 'grove.dev/v1alpha1', kind: 'Domain', metadata: { name: 'd', labels: { 'a b': 'x', ok: 'bad value!' } }, spec: { relayPools: ['p'] } });
if (!r.success) { console.log(JSON.stringify(r.error.issues)); console.log(formatIssues(r.error.issues)); }
