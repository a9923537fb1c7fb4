/**
 * A small RFC 4180 CSV reader for member imports: quoted fields (with "" for a quote and
 * embedded commas and line breaks), CRLF or LF line ends, a UTF-8 BOM ignored.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let fieldStarted = false;
  const endField = () => {
    row.push(field);
    field = '';
    fieldStarted = false;
  };
  const endRow = () => {
    endField();
    // A blank line is not a row.
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text.charAt(i);
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (c === ',') endField();
    else if (c === '\n') endRow();
    else if (c === '\r') {
      if (text[i + 1] === '\n') i++;
      endRow();
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (quoted) throw new CsvError('unterminated quoted field at the end of the file');
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

export class CsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvError';
  }
}

/**
 * Import rows from CSV with a header naming the columns (id, displayName, email; any order;
 * other columns are an error). Returns one record per data row, in order.
 */
export function csvMemberRows(text: string): Record<string, string>[] {
  const [header, ...data] = parseCsv(text);
  if (header === undefined)
    throw new CsvError('empty CSV: expected a header "id,displayName,email"');
  const columns = header.map((h) => h.trim());
  const known = ['id', 'displayName', 'email'];
  const unknown = columns.filter((c) => !known.includes(c));
  if (unknown.length > 0) {
    // Named, but bounded: at most 5 of them, 40 characters each.
    const named = unknown
      .slice(0, 5)
      .map((c) => JSON.stringify(c.length > 40 ? `${c.slice(0, 39)}…` : c))
      .join(', ');
    const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : '';
    throw new CsvError(`unknown CSV column(s) ${named}${more}: expected id,displayName,email`);
  }
  for (const required of ['id', 'displayName']) {
    if (!columns.includes(required))
      throw new CsvError(`CSV header lacks the "${required}" column`);
  }
  return data.map((cells) => {
    const record: Record<string, string> = {};
    columns.forEach((column, i) => {
      const value = cells[i]?.trim() ?? '';
      if (value !== '') record[column] = value;
    });
    return record;
  });
}
