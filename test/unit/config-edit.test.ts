import { describe, it, expect } from 'vitest'
import { parse, type ParseError } from 'jsonc-parser'
import { applyJsonEdits, type JsonEdit } from '../../src/project/edit.js'

/** The lines, each ending in a line feed: exact file text that is easy to read. */
const lines = (...rows: string[]): string => rows.map((row) => `${row}\n`).join('')

/** Applies the edits and checks the result is valid JSONC (comments and trailing commas allowed). */
function edit(text: string, edits: JsonEdit[]): string {
  const result = applyJsonEdits(text, edits)
  const errors: ParseError[] = []
  parse(result, errors, { allowTrailingComma: true })
  expect(errors).toEqual([])
  return result
}

const chatFunction: JsonEdit = { path: ['functions', 'chat'], value: { entry: 'functions/chat.ts' } }
const chatTrigger: JsonEdit = { path: ['triggers', 'chat'], value: { type: 'endpoint', function: 'chat' } }

describe('inserting a property', () => {
  it('keeps a one-line object on one line, with the comment after it', () => {
    const text = lines(
      '{',
      '  "functions": { "a": { "entry": "functions/a.ts" } }, // compact on purpose',
      '  "triggers": { "a": { "type": "endpoint", "function": "a" } } // also compact',
      '}',
    )
    expect(edit(text, [chatFunction, chatTrigger])).toBe(
      lines(
        '{',
        '  "functions": { "a": { "entry": "functions/a.ts" }, "chat": { "entry": "functions/chat.ts" } }, // compact on purpose',
        '  "triggers": { "a": { "type": "endpoint", "function": "a" }, "chat": { "type": "endpoint", "function": "chat" } } // also compact',
        '}',
      ),
    )
  })

  it('copies the spacing of a tight one-line object', () => {
    expect(edit('{"functions":{"a":{"entry":"a.ts"}}}', [chatFunction])).toBe(
      '{"functions":{"a":{"entry":"a.ts"}, "chat":{"entry":"functions/chat.ts"}}}',
    )
    expect(edit('{"a":1,"b":2}', [{ path: ['c'], value: [1, 2] }])).toBe('{"a":1,"b":2,"c":[1,2]}')
    expect(edit(lines('{', '  "a":1', '}'), [{ path: ['b'], value: { c: 2 } }])).toBe(
      lines('{', '  "a":1,', '  "b":{', '    "c":2', '  }', '}'),
    )
  })

  it('leaves one-line entries of a multi-line object alone and keeps each comment on its line', () => {
    const text = lines(
      '{',
      '  "functions": {',
      '    "a": { "entry": "functions/a.ts" }, // first',
      '    "b": { "entry": "functions/b.ts" } // compact on purpose',
      '  },',
      '  "triggers": {',
      '    "a": { "type": "endpoint", "function": "a" } /* block */',
      '  }',
      '}',
    )
    expect(edit(text, [chatFunction, chatTrigger])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "a": { "entry": "functions/a.ts" }, // first',
        '    "b": { "entry": "functions/b.ts" }, // compact on purpose',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    }',
        '  },',
        '  "triggers": {',
        '    "a": { "type": "endpoint", "function": "a" }, /* block */',
        '    "chat": {',
        '      "type": "endpoint",',
        '      "function": "chat"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('adds after a multi-line last member, and keeps comment lines before the closing brace there', () => {
    const text = lines(
      '{',
      '  "triggers": {',
      '    "a": {',
      '      "type": "endpoint", // kind',
      '      "function": "a"',
      '    } // the first one',
      '    // more to come',
      '  }',
      '}',
    )
    expect(edit(text, [chatTrigger])).toBe(
      lines(
        '{',
        '  "triggers": {',
        '    "a": {',
        '      "type": "endpoint", // kind',
        '      "function": "a"',
        '    }, // the first one',
        '    "chat": {',
        '      "type": "endpoint",',
        '      "function": "chat"',
        '    }',
        '    // more to come',
        '  }',
        '}',
      ),
    )
  })

  it('indents with tabs in a tab-indented file', () => {
    const text = lines(
      '{',
      '\t// my functions',
      '\t"functions": {',
      '\t\t"a": { "entry": "a.ts" }',
      '\t}',
      '}',
    )
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '\t// my functions',
        '\t"functions": {',
        '\t\t"a": { "entry": "a.ts" },',
        '\t\t"chat": {',
        '\t\t\t"entry": "functions/chat.ts"',
        '\t\t}',
        '\t}',
        '}',
      ),
    )
  })

  it('indents with four spaces in a four-space file', () => {
    const text = lines('{', '    "functions": {', '        "a": { "entry": "a.ts" }', '    }', '}')
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '    "functions": {',
        '        "a": { "entry": "a.ts" },',
        '        "chat": {',
        '            "entry": "functions/chat.ts"',
        '        }',
        '    }',
        '}',
      ),
    )
  })

  it('takes the indent unit from how members nest, not from a comment', () => {
    const text = lines('/*', ' * My project.', ' */', '{', '    "functions": {}', '}')
    expect(edit(text, [{ path: ['dev', 'map'], value: { 'a.com': 'http://x' } }])).toBe(
      lines(
        '/*',
        ' * My project.',
        ' */',
        '{',
        '    "functions": {},',
        '    "dev": {',
        '        "map": {',
        '            "a.com": "http://x"',
        '        }',
        '    }',
        '}',
      ),
    )
  })

  it('creates missing parents as one nested value, pretty-printed', () => {
    const text = lines('{', '  // c', '  "functions": {}', '}')
    expect(edit(text, [{ path: ['dev', 'map', 'api.openai.com'], value: 'http://127.0.0.1:9000' }])).toBe(
      lines(
        '{',
        '  // c',
        '  "functions": {},',
        '  "dev": {',
        '    "map": {',
        '      "api.openai.com": "http://127.0.0.1:9000"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('inserts into a nested object that exists', () => {
    const text = lines('{', '  "dev": {', '    "port": 8787 // default', '  }', '}')
    expect(edit(text, [{ path: ['dev', 'map', 'a.com'], value: 'http://x' }])).toBe(
      lines(
        '{',
        '  "dev": {',
        '    "port": 8787, // default',
        '    "map": {',
        '      "a.com": "http://x"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('carries a trailing-comma habit over to the new member', () => {
    const text = lines('{', '  "functions": {', '    "a": { "entry": "a.ts" }, // first', '  },', '}')
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "a": { "entry": "a.ts" }, // first',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    },',
        '  },',
        '}',
      ),
    )
  })

  it('is not fooled by brackets and commas inside comments and strings', () => {
    const text = lines('{', '  "functions": {', '    "a": { "entry": "a, }.ts" } // } ] , {', '  }', '}')
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "a": { "entry": "a, }.ts" }, // } ] , {',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('keeps a closing brace that shares the last line', () => {
    const text = lines('{', '  "functions": {', '    "a": { "entry": "a.ts" } }', '}')
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "a": { "entry": "a.ts" },',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    } }',
        '}',
      ),
    )
  })

  it('quotes keys that need escaping', () => {
    expect(edit('{ "a": 1 }', [{ path: ['say "hi"'], value: 'x\ny' }])).toBe(
      '{ "a": 1, "say \\"hi\\"": "x\\ny" }',
    )
  })
})

describe('inserting into an empty object', () => {
  it('spreads {} over lines in a multi-line file', () => {
    const text = lines('{', '  "functions": {}, // none yet', '  "triggers": {}', '}')
    expect(edit(text, [chatFunction, chatTrigger])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    }',
        '  }, // none yet',
        '  "triggers": {',
        '    "chat": {',
        '      "type": "endpoint",',
        '      "function": "chat"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('spreads { } and an empty root object the same way', () => {
    expect(edit('{ "functions": { } }', [chatFunction])).toBe(
      '{ "functions": { "chat": { "entry": "functions/chat.ts" } } }',
    )
    expect(edit('{}', [{ path: ['functions'], value: {} }])).toBe('{\n  "functions": {}\n}')
    expect(edit('{}\n', [{ path: ['domains'], value: ['a.com'] }])).toBe(
      '{\n  "domains": [\n    "a.com"\n  ]\n}\n',
    )
  })

  it('keeps comments inside an empty multi-line object above the new member', () => {
    const text = lines('{', '\t"functions": {', '\t\t// add functions here', '\t}', '}')
    expect(edit(text, [chatFunction])).toBe(
      lines(
        '{',
        '\t"functions": {',
        '\t\t// add functions here',
        '\t\t"chat": {',
        '\t\t\t"entry": "functions/chat.ts"',
        '\t\t}',
        '\t}',
        '}',
      ),
    )
    expect(edit(lines('{', '  "functions": {', '  }', '}'), [chatFunction])).toBe(
      lines(
        '{',
        '  "functions": {',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    }',
        '  }',
        '}',
      ),
    )
  })

  it('keeps {} in a one-line parent on one line', () => {
    expect(edit('{ "dev": { "map": {} } }', [{ path: ['dev', 'map', 'a.com'], value: 'http://x' }])).toBe(
      '{ "dev": { "map": { "a.com": "http://x" } } }',
    )
  })
})

describe('appending to an array', () => {
  it('keeps a one-line array on one line', () => {
    const text = lines('{', '  "domains": ["api.openai.com"] // allowed', '}')
    expect(edit(text, [{ append: 'domains', value: 'api.stripe.com' }])).toBe(
      lines('{', '  "domains": ["api.openai.com", "api.stripe.com"] // allowed', '}'),
    )
    expect(edit('{ "domains": [ "a.com", "b.com" ] }', [{ append: 'domains', value: 'c.com' }])).toBe(
      '{ "domains": [ "a.com", "b.com", "c.com" ] }',
    )
  })

  it('keeps the comment on the old last element', () => {
    const text = lines('{', '  "domains": [', '    "a.com", // first', '    "b.com" // second', '  ]', '}')
    expect(edit(text, [{ append: 'domains', value: 'c.com' }])).toBe(
      lines(
        '{',
        '  "domains": [',
        '    "a.com", // first',
        '    "b.com", // second',
        '    "c.com"',
        '  ]',
        '}',
      ),
    )
  })

  it('keeps the comment on an element that already has a trailing comma, and adds one to the new', () => {
    const text = lines('{', '  "domains": [', '    "a.com", // first', '    "b.com", // second', '  ],', '}')
    expect(edit(text, [{ append: 'domains', value: 'c.com' }])).toBe(
      lines(
        '{',
        '  "domains": [',
        '    "a.com", // first',
        '    "b.com", // second',
        '    "c.com",',
        '  ],',
        '}',
      ),
    )
    expect(edit('{ "domains": ["a.com",] }', [{ append: 'domains', value: 'b.com' }])).toBe(
      '{ "domains": ["a.com", "b.com",] }',
    )
  })

  it('keeps a multi-line block comment after the last element with it', () => {
    const config = lines('{', '  "domains": [', '    "a.com" /* first,', '    still first */', '  ]', '}')
    expect(edit(config, [{ append: 'domains', value: 'b.com' }])).toBe(
      lines('{', '  "domains": [', '    "a.com", /* first,', '    still first */', '    "b.com"', '  ]', '}'),
    )
  })

  it('continues a line that holds several elements', () => {
    const text = lines('{', '  "domains": [', '    "a.com", "b.com",', '    "c.com", "d.com"', '  ]', '}')
    expect(edit(text, [{ append: 'domains', value: 'e.com' }])).toBe(
      lines('{', '  "domains": [', '    "a.com", "b.com",', '    "c.com", "d.com", "e.com"', '  ]', '}'),
    )
  })

  it('fills [] and [ ] on one line, and a multi-line empty array on its own line', () => {
    expect(edit(lines('{', '  "domains": []', '}'), [{ append: 'domains', value: 'a.com' }])).toBe(
      lines('{', '  "domains": ["a.com"]', '}'),
    )
    expect(edit('{ "domains": [ ] }', [{ append: 'domains', value: 'a.com' }])).toBe(
      '{ "domains": [ "a.com" ] }',
    )
    const commented = lines('{', '  "domains": [', '    // none yet', '  ]', '}')
    expect(edit(commented, [{ append: 'domains', value: 'a.com' }])).toBe(
      lines('{', '  "domains": [', '    // none yet', '    "a.com"', '  ]', '}'),
    )
    expect(edit(lines('{', '  "domains": [', '  ]', '}'), [{ append: 'domains', value: 'a.com' }])).toBe(
      lines('{', '  "domains": [', '    "a.com"', '  ]', '}'),
    )
  })

  it('creates the array when it is missing', () => {
    const text = lines('{', '    "functions": {} // none', '}')
    expect(
      edit(text, [
        { append: 'domains', value: 'a.com' },
        { append: 'domains', value: 'b.com' },
      ]),
    ).toBe(
      lines(
        '{',
        '    "functions": {}, // none',
        '    "domains": [',
        '        "a.com",',
        '        "b.com"',
        '    ]',
        '}',
      ),
    )
  })
})

describe('removing', () => {
  const domains = lines(
    '{',
    '  "domains": [',
    '    "a.com", // first',
    '    "b.com", /* second */',
    '    "c.com" // third',
    '  ]',
    '}',
  )

  it('removes the last element and the comma before it, keeping the comment before it', () => {
    expect(edit(domains, [{ path: ['domains', 2], value: undefined }])).toBe(
      lines('{', '  "domains": [', '    "a.com", // first', '    "b.com" /* second */', '  ]', '}'),
    )
  })

  it('removes the first and a middle element with their own comments', () => {
    expect(edit(domains, [{ remove: ['domains', 0] }])).toBe(
      lines('{', '  "domains": [', '    "b.com", /* second */', '    "c.com" // third', '  ]', '}'),
    )
    expect(edit(domains, [{ remove: ['domains', 1] }])).toBe(
      lines('{', '  "domains": [', '    "a.com", // first', '    "c.com" // third', '  ]', '}'),
    )
  })

  it('removes from the end first, the way the domains command does', () => {
    expect(
      edit(domains, [
        { path: ['domains', 2], value: undefined },
        { path: ['domains', 0], value: undefined },
      ]),
    ).toBe(lines('{', '  "domains": [', '    "b.com" /* second */', '  ]', '}'))
  })

  it('empties an array or object with only one member', () => {
    expect(
      edit(lines('{', '  "domains": [', '    "a.com" // only', '  ]', '}'), [{ remove: ['domains', 0] }]),
    ).toBe(lines('{', '  "domains": []', '}'))
    expect(edit('{ "domains": ["a.com"] }', [{ remove: ['domains', 0] }])).toBe('{ "domains": [] }')
    expect(edit('{ "domains": ["a.com",] }', [{ remove: ['domains', 0] }])).toBe('{ "domains": [] }')
    expect(edit('{ "functions": { "a": { "entry": "a.ts" } } }', [{ remove: ['functions', 'a'] }])).toBe(
      '{ "functions": {} }',
    )
  })

  it('keeps comments on their own lines, even in an array left empty', () => {
    const text = lines('{', '  "domains": [', '    // the model', '    "a.com"', '  ]', '}')
    expect(edit(text, [{ remove: ['domains', 0] }])).toBe(
      lines('{', '  "domains": [', '    // the model', '  ]', '}'),
    )
    const between = lines('{', '  "domains": [', '    "a.com",', '    // partners', '    "b.com"', '  ]', '}')
    expect(edit(between, [{ remove: ['domains', 1] }])).toBe(
      lines('{', '  "domains": [', '    "a.com"', '    // partners', '  ]', '}'),
    )
  })

  it('leaves the previous comma when the file uses trailing commas', () => {
    const text = lines('{', '  "domains": [', '    "a.com", // first', '    "b.com", // second', '  ],', '}')
    expect(edit(text, [{ remove: ['domains', 1] }])).toBe(
      lines('{', '  "domains": [', '    "a.com", // first', '  ],', '}'),
    )
    expect(edit('{ "domains": ["a.com", "b.com",] }', [{ remove: ['domains', 1] }])).toBe(
      '{ "domains": ["a.com",] }',
    )
  })

  it('removes from a one-line array: first, middle, last', () => {
    const text = '{ "domains": ["a.com", "b.com", "c.com"] } // three'
    expect(edit(text, [{ remove: ['domains', 0] }])).toBe('{ "domains": ["b.com", "c.com"] } // three')
    expect(edit(text, [{ remove: ['domains', 1] }])).toBe('{ "domains": ["a.com", "c.com"] } // three')
    expect(edit(text, [{ remove: ['domains', 2] }])).toBe('{ "domains": ["a.com", "b.com"] } // three')
    expect(edit('[ "a", "b" ]', [{ remove: [0] }])).toBe('[ "b" ]')
    expect(edit('[ "a", "b" ]', [{ remove: [1] }])).toBe('[ "a" ]')
  })

  it('keeps block comments next to a removed one-line element', () => {
    expect(edit('["a", /* b */ "b"]', [{ remove: [1] }])).toBe('["a" /* b */]')
    expect(edit('["a" /* a */, "b"]', [{ remove: [1] }])).toBe('["a" /* a */]')
  })

  it('removes an element sharing a line with others', () => {
    const text = lines('[', '  "a", "b",', '  "c", "d"', ']')
    expect(edit(text, [{ remove: [1] }])).toBe(lines('[', '  "a",', '  "c", "d"', ']'))
    expect(edit(text, [{ remove: [2] }])).toBe(lines('[', '  "a", "b",', '  "d"', ']'))
    expect(edit(text, [{ remove: [3] }])).toBe(lines('[', '  "a", "b",', '  "c"', ']'))
  })

  it('removes a last element whose line also holds the closing bracket', () => {
    expect(edit(lines('[', '  "a",', '  "b"]'), [{ remove: [1] }])).toBe(lines('[', '  "a"]'))
    expect(edit(lines('[', '  "a", // keep', '  "b"]'), [{ remove: [1] }])).toBe(
      lines('[', '  "a" // keep', ']'),
    )
    expect(edit(lines('[', '  "a",', '  "b",]'), [{ remove: [1] }])).toBe(lines('[', '  "a",', ']'))
  })

  it('removes a multi-line property with the comments on its lines', () => {
    const text = lines(
      '{',
      '  "triggers": {',
      '    "a": { "type": "endpoint", "function": "a" }, // a',
      '    "chat": {',
      '      "type": "endpoint", // inside',
      '      "function": "chat"',
      '    }, // chat',
      '    "b": { "type": "endpoint", "function": "b" } // b',
      '  }',
      '}',
    )
    expect(edit(text, [{ remove: ['triggers', 'chat'] }])).toBe(
      lines(
        '{',
        '  "triggers": {',
        '    "a": { "type": "endpoint", "function": "a" }, // a',
        '    "b": { "type": "endpoint", "function": "b" } // b',
        '  }',
        '}',
      ),
    )
    expect(edit(text, [{ path: ['triggers', 'b'], value: undefined }])).toBe(
      lines(
        '{',
        '  "triggers": {',
        '    "a": { "type": "endpoint", "function": "a" }, // a',
        '    "chat": {',
        '      "type": "endpoint", // inside',
        '      "function": "chat"',
        '    } // chat',
        '  }',
        '}',
      ),
    )
  })

  it('removes a property from a one-line object', () => {
    const text = '{ "dev": { "port": 1, "map": {}, "x": true } }'
    expect(edit(text, [{ remove: ['dev', 'port'] }])).toBe('{ "dev": { "map": {}, "x": true } }')
    expect(edit(text, [{ remove: ['dev', 'map'] }])).toBe('{ "dev": { "port": 1, "x": true } }')
    expect(edit(text, [{ remove: ['dev', 'x'] }])).toBe('{ "dev": { "port": 1, "map": {} } }')
  })

  it('does nothing for a path that is not there', () => {
    const text = lines('{', '  "domains": ["a.com"] // x', '}')
    expect(
      edit(text, [
        { remove: ['domains', 3] },
        { remove: ['dev', 'map'] },
        { path: ['nope'], value: undefined },
      ]),
    ).toBe(text)
  })
})

describe('replacing a value', () => {
  it('changes only the value, keeping what is around it', () => {
    const text = lines('{', '  "dev": {', '    "port": 8787, // local', '    "map": {}', '  }', '}')
    expect(edit(text, [{ path: ['dev', 'port'], value: 9000 }])).toBe(
      lines('{', '  "dev": {', '    "port": 9000, // local', '    "map": {}', '  }', '}'),
    )
    expect(edit('{ "domains": ["a.com", "b.com"] }', [{ path: ['domains', 1], value: 'c.com' }])).toBe(
      '{ "domains": ["a.com", "c.com"] }',
    )
  })

  it('pretty-prints a container into a multi-line place and keeps one-line ones on one line', () => {
    const text = lines(
      '{',
      '  "dev": {',
      '    "map": {}, // hosts',
      '    "port": 1',
      '  },',
      '  "x": { "a": 1 }',
      '}',
    )
    expect(
      edit(text, [
        { path: ['dev', 'map'], value: { 'a.com': 'http://x' } },
        { path: ['x'], value: { b: [1, 2] } },
      ]),
    ).toBe(
      lines(
        '{',
        '  "dev": {',
        '    "map": {',
        '      "a.com": "http://x"',
        '    }, // hosts',
        '    "port": 1',
        '  },',
        '  "x": { "b": [1, 2] }',
        '}',
      ),
    )
  })

  it('re-indents a replaced multi-line value from its own line', () => {
    const text = lines('{', '\t"dev": {', '\t\t"port": 1', '\t} // end', '}')
    expect(edit(text, [{ path: ['dev'], value: { port: 2, map: { a: 'b' } } }])).toBe(
      lines(
        '{',
        '\t"dev": {',
        '\t\t"port": 2,',
        '\t\t"map": {',
        '\t\t\t"a": "b"',
        '\t\t}',
        '\t} // end',
        '}',
      ),
    )
  })

  it('leaves the text as it is when the value is unchanged', () => {
    const text = lines('{', '  "dev": {"port":   8787}', '}')
    expect(edit(text, [{ path: ['dev'], value: { port: 8787 } }])).toBe(text)
  })

  it('drops undefined properties the way JSON does', () => {
    expect(edit('{}', [{ path: ['t'], value: { a: 1, b: undefined } }])).toBe(
      '{\n  "t": {\n    "a": 1\n  }\n}',
    )
  })
})

describe('line endings', () => {
  it('keeps CRLF for inserted, appended and removed lines', () => {
    const text = lines(
      '{',
      '    "functions": {',
      '        "a": { "entry": "a.ts" } // a',
      '    },',
      '    "domains": [',
      '        "a.com", // first',
      '        "b.com" // second',
      '    ]',
      '}',
    ).replaceAll('\n', '\r\n')
    const result = edit(text, [
      chatFunction,
      { append: 'domains', value: 'c.com' },
      { remove: ['domains', 1] },
      { path: ['dev', 'port'], value: 1 },
    ])
    expect(result).toBe(
      lines(
        '{',
        '    "functions": {',
        '        "a": { "entry": "a.ts" }, // a',
        '        "chat": {',
        '            "entry": "functions/chat.ts"',
        '        }',
        '    },',
        '    "domains": [',
        '        "a.com", // first',
        '        "c.com"',
        '    ],',
        '    "dev": {',
        '        "port": 1',
        '    }',
        '}',
      ).replaceAll('\n', '\r\n'),
    )
  })

  it('keeps CRLF when the last element goes', () => {
    const text = '{\r\n  "domains": [\r\n    "a.com", // first\r\n    "b.com"\r\n  ]\r\n}\r\n'
    expect(edit(text, [{ remove: ['domains', 1] }])).toBe(
      '{\r\n  "domains": [\r\n    "a.com" // first\r\n  ]\r\n}\r\n',
    )
  })
})

describe('a project file as centrali init writes it', () => {
  const initial = `${JSON.stringify(
    {
      $schema: '.centrali/centrali.schema.json',
      functions: { 'openai-proxy': { entry: 'functions/openai-proxy.ts' } },
      triggers: { 'openai-chat': { type: 'endpoint', function: 'openai-proxy' } },
      domains: ['api.openai.com'],
    },
    null,
    2,
  )}\n`

  it('adds a function, its trigger and its domain like `centrali functions add` does', () => {
    const result = edit(initial, [
      chatFunction,
      {
        path: ['triggers', 'chat'],
        value: {
          type: 'endpoint',
          function: 'chat',
          params: { key: { secret: 'KEY' } },
          timeoutMs: undefined,
          cors: { origins: ['http://localhost:5173'] },
        },
      },
      { append: 'domains', value: 'api.stripe.com' },
    ])
    expect(result).toBe(
      lines(
        '{',
        '  "$schema": ".centrali/centrali.schema.json",',
        '  "functions": {',
        '    "openai-proxy": {',
        '      "entry": "functions/openai-proxy.ts"',
        '    },',
        '    "chat": {',
        '      "entry": "functions/chat.ts"',
        '    }',
        '  },',
        '  "triggers": {',
        '    "openai-chat": {',
        '      "type": "endpoint",',
        '      "function": "openai-proxy"',
        '    },',
        '    "chat": {',
        '      "type": "endpoint",',
        '      "function": "chat",',
        '      "params": {',
        '        "key": {',
        '          "secret": "KEY"',
        '        }',
        '      },',
        '      "cors": {',
        '        "origins": [',
        '          "http://localhost:5173"',
        '        ]',
        '      }',
        '    }',
        '  },',
        '  "domains": [',
        '    "api.openai.com",',
        '    "api.stripe.com"',
        '  ]',
        '}',
      ),
    )
    // And back: removing what was added gives the file it started from.
    expect(
      edit(result, [
        { remove: ['domains', 1] },
        { remove: ['triggers', 'chat'] },
        { remove: ['functions', 'chat'] },
      ]),
    ).toBe(initial)
  })
})

describe('a hand-written tab-indented file', () => {
  const text = lines(
    '{',
    '\t// my functions',
    '\t"functions": { "proxy": { "entry": "functions/proxy.ts" } },',
    '\t"triggers": {},',
    '\t"domains": [',
    '\t\t"api.openai.com" // the model',
    '\t]',
    '}',
  )

  it('gets domains added and removed like `centrali domains add/remove` do, and comes back unchanged', () => {
    const added = edit(
      text,
      ['api.stripe.com', '*.partner.io'].map((value): JsonEdit => ({ append: 'domains', value })),
    )
    expect(added).toBe(
      lines(
        '{',
        '\t// my functions',
        '\t"functions": { "proxy": { "entry": "functions/proxy.ts" } },',
        '\t"triggers": {},',
        '\t"domains": [',
        '\t\t"api.openai.com", // the model',
        '\t\t"api.stripe.com",',
        '\t\t"*.partner.io"',
        '\t]',
        '}',
      ),
    )
    expect(edit(added, [{ remove: ['domains', 2] }, { remove: ['domains', 1] }])).toBe(text)
  })
})

describe('edge cases', () => {
  it('writes an object into an empty file', () => {
    expect(edit('', [{ append: 'domains', value: 'a.com' }])).toBe('{\n  "domains": [\n    "a.com"\n  ]\n}')
  })

  it('refuses a path through something that is not an object', () => {
    expect(() => applyJsonEdits('{ "domains": ["a.com"] }', [{ path: ['domains', 'x'], value: 1 }])).toThrow(
      /Cannot set domains\.x: domains is an array/,
    )
    expect(() => applyJsonEdits('{ "domains": ["a.com"] }', [{ path: ['domains', 5], value: 'b' }])).toThrow(
      /Cannot set domains\.5/,
    )
  })

  it('sets the element just past the end of an array', () => {
    expect(edit('{ "domains": ["a.com"] }', [{ path: ['domains', 1], value: 'b.com' }])).toBe(
      '{ "domains": ["a.com", "b.com"] }',
    )
  })

  it('edits only the target of a file that is not closed (it is refused on write anyway)', () => {
    const text = lines('{', '  "domains": [', '    "a.com", // a', '    "b.com" // b')
    expect(applyJsonEdits(text, [{ remove: ['domains', 1] }])).toBe(
      lines('{', '  "domains": [', '    "a.com" // a', '     // b'),
    )
    expect(applyJsonEdits(text, [{ append: 'domains', value: 'c.com' }])).toBe(
      lines('{', '  "domains": [', '    "a.com", // a', '    "b.com","c.com" // b'),
    )
    expect(applyJsonEdits(text, [{ path: ['domains', 0], value: 'x.com' }])).toBe(
      lines('{', '  "domains": [', '    "x.com", // a', '    "b.com" // b'),
    )
  })

  it('refuses to remove the root value', () => {
    expect(() => applyJsonEdits('{}', [{ remove: [] }])).toThrow(/root/)
  })

  it('replaces a non-array value when appending', () => {
    expect(edit('{ "domains": null }', [{ append: 'domains', value: 'a.com' }])).toBe(
      '{ "domains": ["a.com"] }',
    )
  })
})
