import { describe, expect, it } from '@jest/globals';
import { csvMemberRows, CsvError, parseCsv } from './csv.js';

describe('csv › parseCsv', () => {
  it('reads quoted fields with commas, quotes and line breaks, CRLF or LF', () => {
    expect(parseCsv('a,"b,c","say ""hi""\nthere"\r\nd,e,f\n')).toEqual([
      ['a', 'b,c', 'say "hi"\nthere'],
      ['d', 'e', 'f'],
    ]);
  });

  it('ignores a BOM and blank lines, and keeps empty fields', () => {
    expect(parseCsv('\ufeffid,name\n\nx,\n')).toEqual([
      ['id', 'name'],
      ['x', ''],
    ]);
  });

  it('refuses an unterminated quote', () => {
    expect(() => parseCsv('a,"b\n')).toThrow(CsvError);
  });
});

describe('csv › csvMemberRows', () => {
  it('maps columns by the header, in any order, leaving out empty cells', () => {
    expect(csvMemberRows('email,id,displayName\n,ann,Ann\nb@x.org,bob, Bob \n')).toEqual([
      { id: 'ann', displayName: 'Ann' },
      { id: 'bob', displayName: 'Bob', email: 'b@x.org' },
    ]);
  });

  it('names unknown and missing columns', () => {
    expect(() => csvMemberRows('id,name\nx,y')).toThrow(/unknown CSV column\(s\) "name"/);
    expect(() => csvMemberRows('id\nx')).toThrow(/lacks the "displayName" column/);
    expect(() => csvMemberRows('')).toThrow(/empty CSV/);
  });
});
