/**
 * CSV and TSV with a header row. Fields may be quoted with `"` (a quote in a
 * quoted field is written `""`), and a quoted field may span lines, as
 * spreadsheet programs and Python's csv module write them. Rows carry the
 * line they start on, so errors point at the right line.
 */
export interface DelimitedRow {
  line: number;
  fields: string[];
}

export interface DelimitedParse {
  header: string[];
  headerLine: number;
  rows: DelimitedRow[];
  /** Rows that could not be parsed (an unterminated quote). */
  errors: Array<{ line: number; message: string }>;
}

/** Split text into rows of fields; `delimiter` is `,` or a tab. */
export function parseDelimited(text: string, delimiter: ',' | '\t'): DelimitedParse {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: DelimitedRow[] = [];
  const errors: DelimitedParse['errors'] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quotedField = false;
  let line = 1;
  let rowStart = 1;
  let rowHasContent = false;

  const endField = () => {
    fields.push(quotedField ? field : field.trim());
    field = '';
    quotedField = false;
  };
  const endRow = () => {
    endField();
    if (rowHasContent) records.push({ line: rowStart, fields });
    fields = [];
    rowHasContent = false;
  };

  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inQuotes) {
      if (c === '"') {
        if (body[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field.trim() === '') {
      inQuotes = true;
      quotedField = true;
      field = '';
      rowHasContent = true;
    } else if (c === delimiter) {
      endField();
      rowHasContent = true;
    } else if (c === '\n') {
      endRow();
      line++;
      rowStart = line;
    } else if (c === '\r' && body[i + 1] === '\n') {
      // CRLF: the \n ends the row.
    } else {
      field += c;
      if (c.trim() !== '') rowHasContent = true;
    }
  }
  if (inQuotes) errors.push({ line: rowStart, message: 'a quoted field is never closed (unbalanced `"`)' });
  else endRow();

  const [headerRow, ...rows] = records;
  return { header: headerRow ? headerRow.fields : [], headerLine: headerRow ? headerRow.line : 1, rows, errors };
}
