"""pixelsound.index: folder scans with good and broken files, categories, SoP CSV migration, index files."""

from __future__ import annotations

import json
import shutil

import pytest

from pixelsound import cli, index


def _folder_with_good_and_bad(tmp_path, make_clip, bad_media):
    root = tmp_path / "videos"
    (root / "nested" / "deeper").mkdir(parents=True)
    make_clip(root, "violin_1.mp4", seconds=1.0)
    (root / "violin_1.json").write_text(json.dumps({"category": "violin", "split": "train", "onsets": [0.1]}))
    make_clip(root / "nested", "flute_1.mkv", seconds=1.0, freq=660)
    (root / "nested" / "flute_1.json").write_text(json.dumps({"category": "flute"}))
    make_clip(root / "nested" / "deeper", "nocat.webm", seconds=1.0)  # no sidecar: category None
    make_clip(root, "badsidecar.mp4", seconds=1.0)
    (root / "badsidecar.json").write_text("{not json")
    (root / "readme.txt").write_text("not a video, not looked at")
    broken = {}
    for case in ("empty", "text", "truncated", "truncated_header", "no_audio", "no_video", "short"):
        target = root / f"bad_{case}.mp4"
        shutil.copy(bad_media[case], target)
        broken[target] = case
    return root, broken


EXPECTED_REASON = {
    "empty": "empty file",
    "text": "not a media file",
    "truncated": "truncated",
    "truncated_header": "truncated",
    "no_audio": "no audio stream",
    "no_video": "no video stream",
    "short": "too short",
}


def test_index_verb_keeps_good_files_and_lists_every_broken_one(tmp_path, make_clip, bad_media, capsys):
    root, broken = _folder_with_good_and_bad(tmp_path, make_clip, bad_media)
    out = tmp_path / "out" / "index.jsonl"
    code = cli.main(["index", str(root), "-o", str(out), "--min-duration", "0.8"])
    printed = capsys.readouterr()
    assert code == 0
    assert "Traceback" not in printed.out + printed.err
    records = index.read_index(out)
    names = sorted(r["path"].rsplit("/", 1)[1] for r in records)
    assert names == ["flute_1.mkv", "nocat.webm", "violin_1.mp4"]
    rejects = [json.loads(line) for line in index.rejects_file(out).read_text().splitlines()]
    reasons = {r["path"]: r["reason"] for r in rejects}
    for path, case in broken.items():
        assert EXPECTED_REASON[case] in reasons[str(path)], (case, reasons[str(path)])
        assert str(path) in printed.out and EXPECTED_REASON[case] in printed.out
    assert "not valid JSON" in reasons[str(root / "badsidecar.mp4")]
    assert len(rejects) == len(broken) + 1
    assert "indexed 3 files" in printed.out and f"rejected {len(rejects)} files" in printed.out


def test_records_carry_probe_facts_and_sidecar_category(tmp_path, make_clip, bad_media):
    root, _ = _folder_with_good_and_bad(tmp_path, make_clip, bad_media)
    records, _ = index.scan(root)
    by_name = {r["path"].rsplit("/", 1)[1]: r for r in records}
    violin = by_name["violin_1.mp4"]
    assert (violin["category"], violin["split"]) == ("violin", "train")
    assert violin["has_audio"] and violin["has_video"] and violin["sample_rate"] == 11025
    assert violin["duration"] == pytest.approx(1.0, abs=0.05) and violin["num_frames"] == 8
    assert by_name["flute_1.mkv"]["category"] == "flute"
    assert by_name["nocat.webm"]["category"] is None
    assert "onsets" not in violin  # sidecars can be large: only category and split are copied


def test_paths_are_relative_to_the_index_and_resolve_back(tmp_path, make_clip):
    root = tmp_path / "data"
    root.mkdir()
    clip = make_clip(root, "a.mp4")
    out = tmp_path / "indexes" / "all.jsonl"
    assert cli.main(["index", str(root), "-o", str(out)]) == 0
    stored = json.loads(out.read_text().splitlines()[0])
    assert stored["path"] == "../data/a.mp4"
    assert index.read_index(out)[0]["path"] == str(clip.resolve())
    assert not index.rejects_file(out).exists()  # nothing rejected: no stale rejects file
    assert not list(out.parent.glob(".*"))  # atomic write left no temporary file


def test_require_audio_off_keeps_silent_videos(tmp_path, make_clip):
    make_clip(tmp_path, "silent.mp4", audio=False)
    records, rejects = index.scan(tmp_path, require_audio=False)
    assert len(records) == 1 and not records[0]["has_audio"] and rejects == []
    records, rejects = index.scan(tmp_path)
    assert records == [] and "no audio stream" in rejects[0]["reason"]


def test_category_from_folder_music_layout(tmp_path, make_clip):
    for category in ("accordion", "trumpet"):
        (tmp_path / "solo" / category).mkdir(parents=True)
        make_clip(tmp_path / "solo" / category, "x.mp4")
    records, _ = index.scan(tmp_path / "solo", category_from="folder")
    assert sorted(r["category"] for r in records) == ["accordion", "trumpet"]
    records, _ = index.scan(tmp_path / "solo", category_from="none")
    assert [r["category"] for r in records] == [None, None]


def test_sop_csv_migration(tmp_path, make_sop_tree, capsys):
    lines = make_sop_tree(tmp_path)
    lines.append("audio/missing.mp3,frames/missing.mp4,16")
    lines.append("audio/violin/vid_violin.mp3,frames/violin/vid_violin.mp4,99")  # more frames than exist
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    records, rejects = index.read_sop_csv(csv_path)
    assert [r["category"] for r in records] == ["violin", "flute"]
    violin = records[0]
    assert violin["frames_dir"].endswith("frames/violin/vid_violin.mp4") and violin["num_frames"] == 16
    assert violin["audio_path"].endswith("vid_violin.mp3") and violin["fps"] == 8.0
    assert violin["duration"] == pytest.approx(2.0, abs=0.1)
    assert "line 3" in rejects[0]["reason"] and "file not found" in rejects[0]["reason"]
    assert "line 4" in rejects[1]["reason"] and "16 images, CSV says 99" in rejects[1]["reason"]
    out = tmp_path / "idx" / "train.jsonl"
    assert cli.main(["index", "--from-sop-csv", str(csv_path), "-o", str(out)]) == 0
    assert "rejected 2 files" in capsys.readouterr().out
    migrated = index.read_index(out)
    assert [r["frames_dir"] for r in migrated] == [r["frames_dir"] for r in records]
    assert json.loads(out.read_text().splitlines()[0])["frames_dir"] == "../frames/violin/vid_violin.mp4"


def test_sop_csv_bad_line_names_file_and_line(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("a.mp3,frames/a,16\nonly-two,fields\n")
    with pytest.raises(index.IndexFileError, match=r"bad.csv:2: expected 'audio_path,frames_folder"):
        index.read_sop_csv(csv_path)


def test_bad_index_line_names_file_and_line(tmp_path):
    path = tmp_path / "index.jsonl"
    good = json.dumps({"path": "a.mp4", "duration": 1.0})
    path.write_text(good + "\n\n" + '{"path": "b.mp4", "duration": }\n')
    with pytest.raises(index.IndexFileError, match=r"index.jsonl:3: not valid JSON"):
        index.read_index(path)
    path.write_text(good + "\n" + json.dumps(["not", "an", "object"]) + "\n")
    with pytest.raises(index.IndexFileError, match=r"index.jsonl:2: expected a JSON object"):
        index.read_index(path)
    with pytest.raises(index.IndexFileError, match="not found"):
        index.read_index(tmp_path / "nope.jsonl")


def test_write_read_round_trip(tmp_path):
    records = [
        {"path": str(tmp_path / "v" / f"{k}.mp4"), "duration": 1.5 * k, "category": None} for k in range(3)
    ]
    index.write_index(tmp_path / "i.jsonl", records)
    assert index.read_index(tmp_path / "i.jsonl") == records


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["index", str(tmp_path / "nowhere"), "-o", str(tmp_path / "i.jsonl")]) == 1  # bad input
    assert "nowhere: not a folder" in capsys.readouterr().err
    assert cli.main(["index", "-o", str(tmp_path / "i.jsonl")]) == 2


def test_split_by_video_is_stable_and_keeps_videos_together():
    from pixelsound.index import split_by_video

    records = [{"path": f"/m/{cat}/vid{i:03d}.mp4", "category": cat} for i in range(200) for cat in ("a",)]
    records += [{"path": "/m/b/vid007.mp4", "category": "b"}]  # same video id as a/vid007: same split
    parts = split_by_video(records, [0.8, 0.1, 0.1])
    assert sum(len(p) for p in parts.values()) == len(records)
    assert 120 < len(parts["train"]) < 190 and parts["val"] and parts["test"]
    where = {r["path"]: name for name, part in parts.items() for r in part}
    assert where["/m/a/vid007.mp4"] == where["/m/b/vid007.mp4"]
    again = split_by_video(records[:50], [0.8, 0.1, 0.1])  # fewer videos: nobody moves
    assert all(where[r["path"]] == name for name, part in again.items() for r in part)
    assert all(r["split"] == name for name, part in parts.items() for r in part)


def test_index_verb_writes_splits(tmp_path, make_clip):
    from pixelsound.cli import main

    for i in range(6):
        make_clip(tmp_path / "videos" / "flute", f"v{i}.mp4")
    out = tmp_path / "index.jsonl"
    assert (
        main(
            [
                "index",
                str(tmp_path / "videos"),
                "-o",
                str(out),
                "--category-from",
                "folder",
                "--split",
                "0.5",
                "0.25",
                "0.25",
            ]
        )
        == 0
    )
    from pixelsound.index import read_index

    counts = [len(read_index(tmp_path / f"index.{n}.jsonl")) for n in ("train", "val", "test")]
    assert sum(counts) == 6
    assert {r["category"] for r in read_index(tmp_path / "index.train.jsonl")} <= {"flute"}
