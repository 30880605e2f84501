// Writes gpt2_encodings.json: texts and their GPT-2 token ids as the npm package gpt-3-encoder's
// own JavaScript encoder computes them (the expected values of test_bpe_tokenizer.cpp).
//   node tests/nn/data/make_gpt2_encodings.js build/npm/node_modules/gpt-3-encoder > tests/nn/data/gpt2_encodings.json
const path = require('path');
const { encode } = require(path.resolve(process.argv[2]));

const texts = [
  'Hello world',
  "I'm sure they'll say it's fine, we've done what you'd've thought they're not.",
  "DON'T SHOUT: 'S and 'LL are not contractions",
  "rock 'n' roll, ''quoted'' and 'single'",
  'two  spaces, three   spaces,\ttab\t\ttabs, trailing   ',
  'line one\nline two\n\nafter a blank line\r\nwindows\n',
  '    indented code();\n        deeper { x = 1; }\n',
  'Numbers: 3.14159, 1,000,000 and 2026-12-03 at 08:25; 12345678901234567890',
  'Unicode: café, naïve, Zürich, Ελληνικά, русский, 日本語のテキスト, 한국어',
  'Emoji 🙂🚀 and symbols ©®™ ∑∫√ → ← ½ ¼ ٣ Ⅻ',
  '!!!??? ... --- *** ### @user #tag $100 %50 ^_^ ~tilde~ `code`',
  'GPT-2 uses byte-level BPE; "quotes", (parens) [brackets] {braces} <angles>',
  'Mixed   \n  whitespace \t\n end',
  'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  ' leading space and a final space ',
  '\u00a0no-break\u00a0spaces\u2003em\u2003space',
  'Accents composed: e\u0301 a\u0308 vs é ä',
  '<|endoftext|> is plain text to the encoder',
];

const rows = texts.map((text) => JSON.stringify({ text, tokens: encode(text) }));
process.stdout.write('[\n' + rows.join(',\n') + '\n]\n');
