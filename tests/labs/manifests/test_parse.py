"""Parsing layer: YAML syntax, documents, line numbers and size limits."""

from labs.manifests import Policy, validate_manifests
from labs.manifests.parse import parse_manifests
from tests.manifests import DEPLOYMENT

POLICY = Policy(image_allowlist=("nginx",), require_service_type="LoadBalancer")


def validate(text, policy=POLICY):
    return validate_manifests(text, namespace="lab-1", policy=policy)


def codes(validation):
    return [p.code for p in validation.problems]


def test_it_reads_a_valid_document():
    v = validate(DEPLOYMENT)
    assert v.ok
    assert v.problems == []
    [doc] = v.documents
    assert (doc.index, doc.kind, doc.name, doc.api_version) == (0, "Deployment", "lb-test", "apps/v1")
    assert doc.obj["spec"]["replicas"] == 3
    assert (doc.start_line, doc.end_line) == (1, 19)


def test_it_gives_line_numbers_of_each_document():
    text = "---\n" + DEPLOYMENT + "---\n" + DEPLOYMENT.replace("name: lb-test\n", "name: other\n", 1)
    v = validate(text)
    assert [(d.index, d.name, d.start_line, d.end_line) for d in v.documents] == [
        (0, "lb-test", 2, 20), (1, "other", 22, 40)]


def test_it_ignores_empty_documents():
    text = "---\n---\n# only a comment\n---\n" + DEPLOYMENT + "---\n"
    v = validate(text)
    assert [d.index for d in v.documents] == [0]
    assert v.documents[0].start_line == 5
    assert v.ok


def test_it_accepts_an_empty_text():
    v = validate("")
    assert v.documents == [] and v.problems == [] and v.ok


def test_it_locates_fields_and_falls_back_to_the_parent():
    [doc] = validate(DEPLOYMENT).documents
    assert doc.locate(("spec", "template", "spec", "containers", 0, "image")) == (17, 11)
    assert doc.locate(("spec", "template", "spec", "containers", 0)) == (16, 11)
    # a field that is not written: the line of its nearest parent
    assert doc.locate(("spec", "template", "spec", "containers", 0, "securityContext", "privileged")) == (16, 11)


def test_it_reports_a_syntax_error_with_line_and_column():
    text = DEPLOYMENT.replace("  replicas: 3", "  replicas: 3: 4")
    v = validate(text)
    [p] = v.problems
    assert (p.code, p.severity, p.line, p.column, p.field, p.document) == ("yaml-syntax", "error", 6, 14, None, None)
    assert "second colon" in p.message and '"replicas: 3"' in p.message
    assert "quotes" in p.hint
    assert "Mark" not in p.message and "<" not in p.message  # readable, not a Python repr
    assert not v.ok


def test_it_explains_a_tab_used_for_indentation():
    text = "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n"
    [p] = validate(text).problems
    assert (p.code, p.line) == ("yaml-syntax", 4)
    assert "tab" in p.message
    assert "spaces" in p.message


def test_it_explains_bad_indentation():
    text = "apiVersion: v1\nkind: Service\nmetadata:\n    name: x\n  labels: {}\n"
    [p] = validate(text).problems
    assert (p.code, p.line) == ("yaml-syntax", 5)
    assert "indented" in p.message


def test_it_explains_an_unclosed_quote_and_where_it_opens():
    text = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: "x\n'
    [p] = validate(text).problems
    assert p.code == "yaml-syntax"
    assert "quoted string is never closed" in p.message
    assert "line 4" in p.message


def test_it_explains_an_unclosed_flow_list():
    text = "apiVersion: v1\nkind: Service\nspec:\n  ports: [80, 81\n"
    [p] = validate(text).problems
    assert p.code == "yaml-syntax"
    assert "never closed" in p.message and "line 4" in p.message


def test_it_stops_after_a_syntax_error():
    text = "apiVersion: v1\nkind: ConfigMap\n---\n" + "a: b: c\n"
    v = validate(text)
    assert codes(v) == ["yaml-syntax"]  # no kind-not-allowed for the first document


def test_it_requires_each_document_to_be_a_mapping():
    text = DEPLOYMENT + "---\n- a\n- b\n"
    v = validate(text)
    [p] = v.problems
    assert (p.code, p.line, p.document, p.field) == ("not-a-mapping", 21, 1, None)
    assert "Document 2 is a list" in p.message
    assert [d.index for d in v.documents] == [0]


def test_it_requires_kind_and_api_version():
    text = "apiVersion: v1\nmetadata:\n  name: x\n---\nkind: Service\nmetadata:\n  name: y\n"
    v = validate(text)
    assert [(p.code, p.line, p.field, p.document) for p in v.problems] == [
        ("missing-kind", 1, "kind", 0), ("missing-kind", 5, "apiVersion", 1)]
    assert "Document 1 has no kind" in v.problems[0].message
    assert "Document 2 has no apiVersion" in v.problems[1].message
    assert v.documents == []


def test_it_reports_a_key_written_twice():
    text = DEPLOYMENT.replace("  replicas: 3\n", "  replicas: 3\n  replicas: 4\n")
    [p] = validate(text).problems
    assert (p.code, p.line, p.column, p.field) == ("duplicate-key", 7, 3, "spec.replicas")
    assert '"replicas" appears twice' in p.message


def test_it_rejects_a_text_over_the_size_limit():
    policy = Policy(image_allowlist=("nginx",), max_bytes=100)
    v = validate(DEPLOYMENT, policy)
    [p] = v.problems
    assert (p.code, p.line, p.field) == ("too-large", None, None)
    assert "at most 100 bytes" in p.message
    assert v.documents == []


def test_it_counts_bytes_not_characters():
    text = "# " + "é" * 60 + "\n"  # 122 bytes, 63 characters
    assert validate(text, Policy(max_bytes=100)).problems[0].code == "too-large"
    assert validate(text, Policy(max_bytes=130)).problems == []


def test_it_rejects_too_many_documents():
    policy = Policy(image_allowlist=("nginx",), max_documents=2)
    docs = [DEPLOYMENT.replace("name: lb-test\n", f"name: d{i}\n", 1) for i in range(3)]
    v = validate("---\n".join(docs), policy)
    [p] = v.problems
    assert (p.code, p.line, p.document) == ("too-many-documents", 41, 2)
    assert "at most 2" in p.message


def test_it_rejects_aliases_that_expand_to_a_huge_object():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 8)]
    text = "apiVersion: v1\nkind: Service\n" + "\n".join(lines) + "\n"
    [p] = validate(text).problems
    assert (p.code, p.line) == ("too-large", 1)
    assert "aliases" in p.message


def test_it_rejects_absurd_nesting_without_crashing():
    text = "a: " + "[" * 3000 + "]" * 3000 + "\n"
    [p] = validate(text, Policy(max_bytes=20_000)).problems
    assert p.code == "too-large"
    assert "nested too deeply" in p.message


def test_it_keeps_dates_as_strings():
    text = DEPLOYMENT.replace("  name: lb-test\n", "  name: lb-test\n  annotations:\n    built: 2024-01-31\n", 1)
    v = validate(text, Policy(image_allowlist=("nginx",), annotation_allowlist=("built",)))
    assert v.documents[0].obj["metadata"]["annotations"]["built"] == "2024-01-31"
    assert v.ok


def test_it_turns_mapping_keys_into_strings():
    parsed = parse_manifests("apiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    80: x\n",
                             max_bytes=1000, max_documents=5)
    assert parsed.documents[0].obj["metadata"]["labels"] == {"80": "x"}
    assert parsed.documents[0].locate(("metadata", "labels", "80")) == (5, 5)


def test_it_serialises_problems_and_documents_to_json():
    import json

    v = validate(DEPLOYMENT.replace("replicas: 3", "replicas: three"))
    data = json.loads(json.dumps(v.to_dict()))
    assert data["ok"] is False
    assert data["documents"][0] == {"index": 0, "kind": "Deployment", "name": "lb-test", "api_version": "apps/v1",
                                    "start_line": 1, "end_line": 19}
    assert data["problems"][0]["code"] == "schema"
    assert data["problems"][0]["line"] == 6
    assert set(data["problems"][0]) == {"line", "column", "severity", "code", "field", "document", "message", "hint"}


def test_it_sorts_problems_by_line():
    text = DEPLOYMENT.replace("replicas: 3", "replicas: 30").replace("image: nginx:1.27", "image: redis")
    text = text.replace("kind: Deployment", "kind: Deployment\nbogus: 1")
    lines = [p.line for p in validate(text).problems]
    assert lines == sorted(lines)
    assert len(lines) == 3


def test_it_explains_a_control_character_pasted_from_a_terminal():
    result = validate_manifests("apiVersion: v1\nkind: Service\x1b[0m\n", namespace="ns", policy=Policy())
    assert not result.ok
    problem = result.problems[0]
    assert (problem.line, problem.column, problem.code) == (2, 14, "yaml-syntax")
    assert "U+001B" in problem.message


def test_it_says_in_words_that_two_lines_ran_together():
    # What Enter on a completion used to make of "apiVersion: apps/v1" + Enter + "kind: Deployment".
    text = DEPLOYMENT.replace("apiVersion: apps/v1\nkind: Deployment", "apiVersion: apps/v1kind: Deployment")
    [p] = validate(text).problems
    assert (p.code, p.line, p.column) == ("yaml-syntax", 1, 24)
    assert p.message == ('Line 1 holds two keys, "apiVersion" and "kind": it looks like two lines ran together, '
                         'and YAML allows one "key: value" per line.')
    assert p.hint.startswith('Put "kind: Deployment" on a line of its own after "apiVersion: apps/v1".')
    assert "Unexpected colon" not in p.message


def test_it_says_when_the_editor_may_have_indented_a_line():
    # The editor's indentation added to the student's: "selector" went deeper than "replicas".
    text = DEPLOYMENT.replace("  selector:\n", "    selector:\n")
    [p] = validate(text).problems
    assert (p.code, p.line) == ("yaml-syntax", 7)
    assert p.message == ('Line 7 is indented more (4 spaces) than the key "replicas" on line 6 (2 spaces), so YAML '
                         'reads it as part of the value of "replicas", and a key cannot start inside a value.')
    assert p.hint == ('If it belongs beside "replicas", indent it with 2 spaces. '
                      "If the editor indented the line for you, remove the extra spaces.")


def test_it_measures_indentation_from_the_key_of_a_list_item():
    text = DEPLOYMENT.replace("          image: nginx:1.27", "            image: nginx:1.27")
    [p] = validate(text).problems
    assert p.line == 17
    assert 'indented more (12 spaces) than the key "name" on line 16 (10 spaces)' in p.message
    assert "If the editor indented the line for you" in p.hint


def test_it_explains_a_line_indented_like_no_level_above():
    text = DEPLOYMENT.replace("  replicas: 3\n", "    replicas: 3\n")
    [p] = validate(text).problems
    assert (p.code, p.line) == ("yaml-syntax", 7)
    assert 'Line 7 is indented with 2 spaces, but the key "replicas" on line 6 is indented with 4' in p.message
    assert "If the editor indented the line for you, remove the extra spaces." in p.hint


def test_it_explains_a_colon_after_a_line_without_one():
    text = DEPLOYMENT.replace("  replicas: 3\n", "  replicas 3\n")
    [p] = validate(text).problems
    assert p.line == 7
    assert 'Line 6 ("replicas 3") has no colon' in p.message
    assert p.hint == 'Write line 6 as "key: value", with a colon and a space after the key.'
