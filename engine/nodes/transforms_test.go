package nodes_test

import "testing"

func TestDataTransform(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "transform.data", []configCase{
		{cfg: `{"jq":".a"}`},
		{cfg: `{"mapping":{"a":"{{ input.a }}","b":"literal"}}`},
		{cfg: `{}`, wantField: "config", wantMsg: "set one of: jq, mapping"},
		{cfg: `{"jq":".a","mapping":{"a":"b"}}`, wantField: "config", wantMsg: "set only one of"},
		{cfg: `{"jq":".a |"}`, wantField: "config.jq", wantMsg: "jq:"},
		{cfg: `{"mapping":{"a":"{{ nope }}"}}`, wantField: "config.mapping.a", wantMsg: "unknown name nope"},
		{cfg: `{"mapping":{"a":1}}`, wantField: "config.mapping.a", wantMsg: "string"},
		{cfg: `{"mapping":{}}`, wantField: "config.mapping", wantMsg: "minProperties"},
	})
	checkOutputs(t, "transform.data", []outputCase{
		{name: "jq", cfg: `{"jq":"{total: (.lines | map(.p * .q) | add)}"}`, input: `{"lines":[{"p":2,"q":3},{"p":1,"q":1}]}`, want: `{"total":7}`},
		{name: "jq with several results gives an array", cfg: `{"jq":".[] | .id"}`, input: `[{"id":1},{"id":2}]`, want: `[1,2]`},
		{name: "jq with no result gives null", cfg: `{"jq":"empty"}`, input: `{}`, want: `null`},
		{name: "jq error", cfg: `{"jq":".a.b.c"}`, input: `{"a":"text"}`, wantErr: "jq:"},
		{
			name:  "mapping keeps types of whole expressions",
			cfg:   `{"mapping":{"id":"{{ input.id }}","label":"Order {{ input.id }}","tags":"{{ input.tags }}","n":"{{ len(input.tags) }}","const":"x"}}`,
			input: `{"id":7,"tags":["a","b"]}`,
			want:  `{"id":7,"label":"Order 7","tags":["a","b"],"n":2,"const":"x"}`,
		},
		{name: "mapping error", cfg: `{"mapping":{"x":"{{ input.a + input.b }}"}}`, input: `{"a":1,"b":"s"}`, wantErr: "invalid operation"},
	})
}

func TestFilterTransform(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "transform.filter", []configCase{
		{cfg: `{"condition":"item > 1"}`},
		{cfg: `{"condition":"item.ok","items":"input.list"}`},
		{cfg: `{}`, wantField: "config.condition", wantMsg: "is required"},
		{cfg: `{"condition":"item >"}`, wantField: "config.condition", wantMsg: "unexpected token"},
		{cfg: `{"condition":"item","items":"input."}`, wantField: "config.items", wantMsg: "unexpected end"},
	})
	checkOutputs(t, "transform.filter", []outputCase{
		{name: "input array", cfg: `{"condition":"item.total > 100"}`, input: `[{"total":50},{"total":150},{"total":101}]`, want: `[{"total":150},{"total":101}]`},
		{name: "items expression and index", cfg: `{"condition":"index % 2 == 0","items":"input.list"}`, input: `{"list":["a","b","c"]}`, want: `["a","c"]`},
		{name: "nothing kept is an empty array", cfg: `{"condition":"false"}`, input: `[1,2]`, want: `[]`},
		{name: "null input is empty", cfg: `{"condition":"true","items":"input.missing"}`, input: `{}`, want: `[]`},
		{name: "input not an array", cfg: `{"condition":"true"}`, input: `{"a":1}`, wantErr: "input is an object, not an array"},
		{name: "range is an array", cfg: `{"condition":"item > 1","items":"1..3"}`, input: `{}`, want: `[2,3]`},
		{name: "split is an array", cfg: `{"condition":"item != 'b'","items":"split(input.s, ',')"}`, input: `{"s":"a,b,c"}`, want: `["a","c"]`},
		{name: "items not an array", cfg: `{"condition":"true","items":"input.a"}`, input: `{"a":"s"}`, wantErr: `items "input.a" gave a string, not an array`},
		{name: "condition error", cfg: `{"condition":"item.x"}`, input: `[{"x":"s"}]`, wantErr: "not true or false"},
	})
}

func TestAggregateTransform(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "transform.aggregate", []configCase{
		{cfg: `{"aggregations":[{"op":"count"}]}`},
		{cfg: `{"items":"input.rows","group_by":["a.b"],"aggregations":[{"op":"sum","field":"n","as":"total"}]}`},
		{cfg: `{}`, wantField: "config.aggregations", wantMsg: "is required"},
		{cfg: `{"aggregations":[]}`, wantField: "config.aggregations", wantMsg: "minItems"},
		{cfg: `{"aggregations":[{"op":"median","field":"n"}]}`, wantField: "config.aggregations.0.op", wantMsg: "must be one of"},
		{cfg: `{"aggregations":[{"op":"sum"}]}`, wantField: "config.aggregations.0.field", wantMsg: "is required"},
		{cfg: `{"aggregations":[{"op":"count"},{"op":"count"}]}`, wantField: "config.aggregations.1.as", wantMsg: "already an output field"},
		{cfg: `{"group_by":["g"],"aggregations":[{"op":"count","as":"g"}]}`, wantField: "config.aggregations.0.as", wantMsg: "already an output field"},
		{cfg: `{"group_by":["a..b"],"aggregations":[{"op":"count"}]}`, wantField: "config.group_by.0", wantMsg: "pattern"},
	})
	rows := `[{"c":{"id":"x"},"n":10,"s":"b"},{"c":{"id":"y"},"n":"5","s":"a"},{"c":{"id":"x"},"n":1,"s":"c"},{"c":{"id":"z"}}]`
	checkOutputs(t, "transform.aggregate", []outputCase{
		{
			name:  "every op over everything",
			cfg:   `{"aggregations":[{"op":"count"},{"op":"count","field":"n"},{"op":"sum","field":"n"},{"op":"avg","field":"n"},{"op":"min","field":"n"},{"op":"max","field":"n"},{"op":"min","field":"s"},{"op":"max","field":"s"},{"op":"first","field":"s"},{"op":"last","field":"s"},{"op":"collect","field":"c.id","as":"ids"}]}`,
			input: rows,
			want:  `{"count":4,"count_n":3,"sum_n":16,"avg_n":5.333333333333333,"min_n":1,"max_n":10,"min_s":"a","max_s":"c","first_s":"b","last_s":"c","ids":["x","y","x","z"]}`,
		},
		{
			name:  "grouped, in order of first appearance",
			cfg:   `{"group_by":["c.id"],"aggregations":[{"op":"count","as":"orders"},{"op":"sum","field":"n","as":"total"}]}`,
			input: rows,
			want:  `[{"c.id":"x","orders":2,"total":11},{"c.id":"y","orders":1,"total":5},{"c.id":"z","orders":1,"total":0}]`,
		},
		{
			name:  "items expression, empty input",
			cfg:   `{"items":"input.rows","aggregations":[{"op":"count"},{"op":"avg","field":"n"},{"op":"max","field":"n"},{"op":"first","field":"n"},{"op":"collect","field":"n"}]}`,
			input: `{"rows":[]}`,
			want:  `{"count":0,"avg_n":null,"max_n":null,"first_n":null,"collect_n":[]}`,
		},
		{name: "sum of text fails", cfg: `{"aggregations":[{"op":"sum","field":"s"}]}`, input: rows, wantErr: "sum of s: a string is not a number"},
		{name: "array paths", cfg: `{"aggregations":[{"op":"collect","field":"l.1"}]}`, input: `[{"l":[1,2]},{"l":[3]},{"l":"x"}]`, want: `{"collect_l_1":[2]}`},
	})
}

func TestFormatTransform(t *testing.T) {
	t.Parallel()
	checkConfigs(t, "transform.format", []configCase{
		{cfg: `{"output":"text","template":"Hi {{ input.name }}"}`},
		{cfg: `{"output":"csv"}`},
		{cfg: `{"output":"csv","items":"input.rows","columns":["a","b"]}`},
		{cfg: `{"output":"text"}`, wantField: "config.template", wantMsg: "is required"},
		{cfg: `{"output":"csv","template":"x"}`, wantField: "config", wantMsg: "not"},
		{cfg: `{"output":"html","template":"x","columns":["a"]}`, wantField: "config.columns", wantMsg: "false schema"},
		{cfg: `{"output":"text","template":"{{ input. }}"}`, wantField: "config.template", wantMsg: "in {{ input. }}"},
	})
	checkOutputs(t, "transform.format", []outputCase{
		{name: "text", cfg: `{"output":"text","template":"Order {{ input.id }}: {{ input.total }} EUR"}`, input: `{"id":"A1","total":12.5}`, want: `"Order A1: 12.5 EUR"`},
		{
			name:  "html escapes values, not the template",
			cfg:   `{"output":"html","template":"<p title=\"{{ input.t }}\">{{ input.name }}</p>"}`,
			input: `{"name":"<script>alert(1)</script> & co","t":"\"q\""}`,
			want:  `"<p title=\"&#34;q&#34;\">&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"`,
		},
		{
			name:  "json encodes values",
			cfg:   `{"output":"json","template":"{\"name\": {{ input.name }}, \"tags\": {{ input.tags }}, \"n\": {{ input.n }}}"}`,
			input: `{"name":"say \"hi\"","tags":["a"],"n":3}`,
			want:  `"{\"name\": \"say \\\"hi\\\"\", \"tags\": [\"a\"], \"n\": 3}"`,
		},
		{name: "json that does not parse", cfg: `{"output":"json","template":"{ {{ input.n }} }"}`, input: `{"n":1}`, wantErr: "not valid JSON"},
		{
			name:  "csv with sorted columns",
			cfg:   `{"output":"csv"}`,
			input: `[{"b":2,"a":"x,y"},{"a":"z","c":{"k":true}}]`,
			want:  `"a,b,c\n\"x,y\",2,\nz,,\"{\"\"k\"\":true}\"\n"`,
		},
		{
			name:  "csv with given columns and formula escaping",
			cfg:   `{"output":"csv","items":"input.rows","columns":["name","n"]}`,
			input: `{"rows":[{"name":"=HYPERLINK(1)","n":-5},{"name":"-3","n":1.5},{"name":"@x","extra":1}]}`,
			want:  `"name,n\n'=HYPERLINK(1),-5\n-3,1.5\n'@x,\n"`,
		},
		{name: "csv of non-objects", cfg: `{"output":"csv"}`, input: `[1]`, wantErr: "item 0 is a number, not an object"},
	})
}
