"""The bytes a student sent, read as UTF-8: where they are not, and sizes counted in bytes."""

from labs.manifests import Policy, decode_manifest, replacement_problem, utf8_size, validate_manifests


def test_it_reads_utf8_bytes_without_a_problem():
    assert decode_manifest("name: café\n".encode()) == ("name: café\n", None)


def test_it_names_the_first_byte_that_is_not_utf8_with_its_offset_line_and_column():
    raw = "kind: Service\nmetadata:\n  name: é\n".encode() + b"  app: caf\xe9\n"
    text, problem = decode_manifest(raw)
    assert text.endswith("caf\ufffd\n")
    assert (problem.code, problem.severity, problem.line, problem.column) == ("not-utf8", "error", 4, 11)
    offset = raw.index(b"\xe9")
    assert problem.message == (f"The text is not UTF-8: the byte 0xE9 at byte offset {offset} (line 4, column 11) "
                               "cannot be read as UTF-8.")
    assert "Latin-1" in problem.hint


def test_it_shows_every_byte_of_a_broken_sequence():
    _, problem = decode_manifest(b"a: \xf0\x9f\n")  # a 4-byte sequence cut after 2 bytes
    assert "the bytes 0xF0 0x9F at byte offset 3" in problem.message


def test_it_spots_replacement_characters_when_only_the_decoded_text_is_at_hand():
    assert replacement_problem("a: b\n") is None
    problem = replacement_problem("a: b\nc: d\ufffd\n")
    assert (problem.code, problem.line, problem.column) == ("not-utf8", 2, 5)
    assert "U+FFFD" in problem.message


def test_it_counts_sizes_in_bytes_of_utf8():
    assert utf8_size("é") == 2 and utf8_size("a\n") == 2 and utf8_size("🙂") == 4
    text = "# " + "é" * 60 + "\n"
    [p] = validate_manifests(text, namespace="lab-1", policy=Policy(max_bytes=100)).problems
    assert p.code == "too-large"
    assert p.message == ("The text is 123 bytes long (63 characters: letters such as é take more than one byte); "
                         "this lab accepts at most 100 bytes.")
