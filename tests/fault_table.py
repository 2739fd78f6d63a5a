"""The fault table: every bad input the issues name, one row per case, by stage (argv with
`{placeholders}` that `helpers_faults.BadInputs` fills, and what the one `error:` line must
name). `test_faults.py` runs each row.
"""

import dataclasses


@dataclasses.dataclass
class Case:
    stage: str
    name: str
    args: list
    must_name: list
    in_process: bool = False

    @property
    def id(self):
        return f"{self.stage}-{self.name}"


def cases():
    out = ["--output_dir", "{out}"]
    extract = [
        ("empty_file", ["--input_file", "{empty}", *out], ["empty.txt", "no rows"]),
        ("missing_file", ["--input_file", "{missing}", *out], ["missing.txt"]),
        ("invalid_utf8", ["--input_file", "{bad_utf8}", *out], ["bad_utf8.txt", "byte offset 6"]),
        ("whitespace_only", ["--input_file", "{blank}", *out], ["blank.txt", "empty"]),
        ("punctuation_only", ["--input_file", "{punctuation}", *out],
         ["punctuation.txt", "no_text"]),
        ("unwritable_output", ["--input_file", "{text}", "--output_dir", "{a_file}/out"],
         ["a_file"]),
        ("output_is_a_file", ["--input_file", "{text}", "--output_dir", "{a_file}"], ["a_file"]),
        ("query_without_url", ["--query", "SELECT 1", *out], ["--source_url"]),
        ("url_without_query", ["--source_url", "sqlite:///{db}", *out], ["--query"]),
        ("no_source", out, ["--input_file"]),
        ("both_sources", ["--source_url", "sqlite:///{db}", "--query", "SELECT body FROM passages",
                          "--input_file", "{text}", *out], ["--input_file"]),
        ("unparsable_url", ["--source_url", "::not a url::", "--query", "SELECT 1", *out],
         ["--source_url"]),
        ("unknown_dialect", ["--source_url", "nosuchdb://h/db", "--query", "SELECT 1", *out],
         ["nosuchdb"]),
        ("sql_syntax_error", ["--source_url", "sqlite:///{db}", "--query", "SELEC body", *out],
         ["--query"]),
        ("sql_no_rows", ["--source_url", "sqlite:///{db}", "--query",
                         "SELECT body FROM passages WHERE id < 0", *out], ["no rows"]),
        ("sql_not_a_select", ["--source_url", "sqlite:///{db}", "--query",
                              "CREATE TABLE t2 (x)", *out], ["--query"]),
        ("sql_several_columns", ["--source_url", "sqlite:///{db}", "--query",
                                 "SELECT id, body FROM passages", *out], ["--text_column"]),
        ("sql_unknown_text_column", ["--source_url", "sqlite:///{db}", "--query",
                                     "SELECT body FROM passages", "--text_column", "nope", *out],
         ["nope"]),
        ("sql_bad_rows_over_max_bad_fraction", ["--source_url", "sqlite:///{db}", "--query",
                                                "SELECT body FROM passages", *out],
         ["--max_bad_fraction", "invalid_utf8", "1 of 21"]),
        ("negative_min_chars", ["--input_file", "{text}", "--min_chars", "-1", *out],
         ["--min_chars"]),
        ("zero_batch_size", ["--input_file", "{text}", "--batch_size", "0", *out],
         ["--batch_size"]),
        ("max_bad_fraction_above_1", ["--input_file", "{text}", "--max_bad_fraction", "1.5",
                                      *out], ["--max_bad_fraction"]),
    ]
    data = ["--input_file", "{text}", "--vocab_file", "{vocab}", *out]
    pretraining = [
        ("empty_corpus", ["--input_file", "{empty}", "--vocab_file", "{vocab}", *out],
         ["empty.txt"]),
        ("whitespace_corpus", ["--input_file", "{blank}", "--vocab_file", "{vocab}", *out],
         ["blank.txt"]),
        ("missing_input", ["--input_file", "{missing}", "--vocab_file", "{vocab}", *out],
         ["missing.txt"]),
        ("corpus_dir_without_manifest", ["--input_file", "{no_manifest}", "--vocab_file",
                                         "{vocab}", *out], ["corpus_no_manifest", "manifest"]),
        ("dir_of_another_kind", ["--input_file", "{data32}", "--vocab_file", "{vocab}", *out],
         ["data32", "corpus"]),
        ("invalid_utf8_corpus", ["--input_file", "{bad_utf8}", "--vocab_file", "{vocab}", *out],
         ["bad_utf8.txt", "byte offset 6"]),
        ("only_unk_passages", ["--input_file", "{hangul}", "--vocab_file", "{vocab}", *out],
         ["hangul.txt", "only_unk", "--max_bad_fraction"]),
        ("passages_without_tokens", ["--input_file", "{invisible}", "--vocab_file", "{vocab}",
                                     *out], ["invisible.txt", "--max_bad_fraction"]),
        ("passages_without_tokens_packed", ["--input_file", "{invisible}", "--vocab_file",
                                            "{vocab}", "--pack", "True", *out],
         ["invisible.txt", "--max_bad_fraction"]),
        ("missing_vocab", ["--input_file", "{text}", "--vocab_file", "{missing}", *out],
         ["--vocab_file", "missing.txt"]),
        ("vocab_without_mask", ["--input_file", "{text}", "--vocab_file", "{no_mask_vocab}",
                                *out], ["[MASK]", "no_mask_vocab.txt"]),
        ("vocab_not_utf8", ["--input_file", "{text}", "--vocab_file", "{latin1_vocab}", *out],
         ["latin1_vocab.txt"]),
        ("max_predictions_over_max_seq_length", [*data, "--max_seq_length", "16",
                                                 "--max_predictions_per_seq", "20"],
         ["--max_predictions_per_seq", "--max_seq_length"]),
        ("max_seq_length_2", [*data, "--max_seq_length", "2"], ["--max_seq_length"]),
        ("masked_lm_prob_0", [*data, "--masked_lm_prob", "0"], ["--masked_lm_prob"]),
        ("masked_lm_prob_1", [*data, "--masked_lm_prob", "1"], ["--masked_lm_prob"]),
        ("masked_lm_prob_negative", [*data, "--masked_lm_prob", "-0.1"], ["--masked_lm_prob"]),
        ("short_seq_prob_above_1", [*data, "--short_seq_prob", "1.5"], ["--short_seq_prob"]),
        ("heldout_fraction_1", [*data, "--heldout_fraction", "1"], ["--heldout_fraction"]),
        ("dupe_factor_0", [*data, "--dupe_factor", "0"], ["--dupe_factor"]),
        ("negative_workers", [*data, "--num_workers", "-1"], ["--num_workers"]),
        ("shard_index_out_of_range", [*data, "--num_shards", "2", "--shard_index", "2"],
         ["--shard_index"]),
        ("missing_user_dict", [*data, "--user_dict", "{missing}"], ["--user_dict"]),
        ("max_bad_fraction_negative", [*data, "--max_bad_fraction", "-0.5"],
         ["--max_bad_fraction"]),
        ("unwritable_output", ["--input_file", "{text}", "--vocab_file", "{vocab}",
                               "--output_dir", "{a_file}/out"], ["a_file"]),
        ("output_is_a_file", ["--input_file", "{text}", "--vocab_file", "{vocab}",
                              "--output_dir", "{a_file}"], ["a_file"]),
        ("no_output", ["--input_file", "{text}", "--vocab_file", "{vocab}"], ["--output_dir"]),
        ("output_dir_and_file_disagree", [*data, "--output_file", "{a_file}/x.tfrecord"],
         ["--output_file"]),
    ]
    init = ["--vocab_file", "{vocab}", *out]
    bert_init = [
        ("vocab_size_mismatch", ["--bert_config_file", "{config}", "--vocab_file",
                                 "{short_vocab}", *out], ["vocab_size", "short_vocab.txt"]),
        ("config_vocab_size_mismatch", ["--bert_config_file", "{config_vocab_1000}", *init],
         ["vocab_size", "config_vocab_1000.json"]),
        ("missing_config", ["--bert_config_file", "{missing}", *init], ["missing.txt"]),
        ("config_not_json", ["--bert_config_file", "{bad_json}", *init], ["bad_json.json"]),
        ("config_heads_do_not_divide_hidden", ["--bert_config_file", "{config_heads}", *init],
         ["num_attention_heads", "config_heads.json"]),
        ("missing_vocab", ["--bert_config_file", "{config}", "--vocab_file", "{missing}", *out],
         ["missing.txt"]),
        ("vocab_not_utf8", ["--bert_config_file", "{config}", "--vocab_file", "{latin1_vocab}",
                            *out], ["latin1_vocab.txt"]),
    ]
    bert_init_tf = [
        ("unwritable_output", ["--bert_config_file", "{config}", "--vocab_file", "{vocab}",
                               "--output_dir", "{a_file}/out"], ["a_file"]),
    ]
    small = ["--train_batch_size", "4", "--num_train_steps", "2", "--num_warmup_steps", "1",
             "--max_seq_length", "32", "--max_predictions_per_seq", "5"]
    from_model = ["--input_dir", "{data32}", "--init_checkpoint", "{model}", *out, *small]
    train = [
        ("warmup_over_train_steps", [*from_model, "--num_warmup_steps", "5"],
         ["--num_warmup_steps", "--num_train_steps"]),
        ("zero_train_steps", [*from_model, "--num_train_steps", "0"], ["--num_train_steps"]),
        ("zero_learning_rate", [*from_model, "--learning_rate", "0"], ["--learning_rate"]),
        ("zero_batch_size", [*from_model, "--train_batch_size", "0"], ["--train_batch_size"]),
        ("vocab_size_mismatch", ["--input_dir", "{data32}", "--bert_config_file",
                                 "{config_vocab_1000}", "--vocab_file", "{vocab}", *out, *small],
         ["vocab_size", "config_vocab_1000.json"]),
        ("checkpoint_of_another_config", [*from_model, "--bert_config_file", "{config_h32}"],
         ["bert_model.ckpt", "does not match the BERT config", "config_h32.json"]),
        ("checkpoint_without_data_file", ["--input_dir", "{data32}", "--init_checkpoint",
                                          "{model_no_data}", *out, *small],
         ["model_no_data", ".data"]),
        ("checkpoint_without_index_file", ["--input_dir", "{data32}", "--init_checkpoint",
                                           "{model_no_index}", *out, *small],
         ["model_no_index"]),
        ("missing_checkpoint", ["--input_dir", "{data32}", "--init_checkpoint",
                                "{missing}/bert_model.ckpt", *out, *small], ["missing.txt"]),
        ("records_of_another_max_seq_length", [*from_model, "--max_seq_length", "64"],
         ["--max_seq_length", "32", "data32"]),
        ("records_of_another_max_predictions", [*from_model, "--max_predictions_per_seq", "20"],
         ["--max_predictions_per_seq", "data32"]),
        ("data_dir_without_manifest", ["--input_dir", "{data_no_manifest}", "--init_checkpoint",
                                       "{model}", *out, *small],
         ["data_no_manifest", "manifest"]),
        ("input_dir_without_records", ["--input_dir", "{empty_dir}", "--init_checkpoint",
                                       "{model}", *out, *small], ["empty_dir", "tfrecord"]),
        ("corpus_dir_as_input", ["--input_dir", "{corpus}", "--init_checkpoint", "{model}",
                                 *out, *small], ["corpus", "pretraining_data"]),
        ("unwritable_output", ["--input_dir", "{data32}", "--init_checkpoint", "{model}",
                               "--output_dir", "{a_file}/out", *small], ["a_file"]),
    ]
    evaluate = [
        ("missing_checkpoint", ["--input_dir", "{data32}", "--init_checkpoint", "{missing}"],
         ["missing.txt"]),
        ("checkpoint_without_data_file", ["--input_dir", "{data32}", "--init_checkpoint",
                                          "{model_no_data}"], ["model_no_data", ".data"]),
        ("checkpoint_of_another_config", ["--input_dir", "{data32}", "--init_checkpoint",
                                          "{model}", "--bert_config_file", "{config_h32}"],
         ["bert_model.ckpt", "config_h32.json"]),
        ("records_longer_than_positions", ["--input_dir", "{data256}", "--init_checkpoint",
                                           "{model}"], ["256", "data256"]),
        ("data_dir_without_manifest", ["--input_dir", "{data_no_manifest}", "--init_checkpoint",
                                       "{model}"], ["data_no_manifest", "manifest"]),
        ("input_dir_without_records", ["--input_dir", "{empty_dir}", "--init_checkpoint",
                                       "{model}"], ["empty_dir", "tfrecord"]),
        ("zero_batch_size", ["--input_dir", "{data32}", "--init_checkpoint", "{model}",
                             "--eval_batch_size", "0"], ["--eval_batch_size"]),
        ("unwritable_output_file", ["--input_dir", "{data32}", "--init_checkpoint", "{model}",
                                    "--output_file", "{a_file}/eval.json"], ["a_file"]),
    ]
    convert = [
        ("missing_checkpoint", ["--tf_checkpoint_path", "{missing}", *out], ["missing.txt"]),
        ("checkpoint_without_data_file", ["--tf_checkpoint_path", "{model_no_data}", *out],
         ["model_no_data", ".data"]),
        ("checkpoint_of_another_config", ["--tf_checkpoint_path", "{model}",
                                          "--bert_config_file", "{config_h32}", *out],
         ["bert_model.ckpt", "config_h32.json"]),
        ("vocab_size_mismatch", ["--tf_checkpoint_path", "{model}", "--vocab_file",
                                 "{short_vocab}", *out], ["vocab_size", "short_vocab.txt"]),
        ("no_output", ["--tf_checkpoint_path", "{model}"], ["--output_dir"]),
        ("parity_data_without_manifest", ["--tf_checkpoint_path", "{model}", *out,
                                          "--parity_data", "{data_no_manifest}"],
         ["data_no_manifest", "manifest"]),
        ("unwritable_output", ["--tf_checkpoint_path", "{model}", "--output_dir",
                               "{a_file}/out"], ["a_file"]),
    ]
    teach = ["--teacher_dir", "{teacher}", "--input_dir", "{data32}", *out,
             "--num_train_steps", "2", "--num_warmup_steps", "1", "--train_batch_size", "4",
             "--student_num_hidden_layers", "1"]
    distill = [
        ("missing_teacher", [*teach, "--teacher_dir", "{missing}"], ["missing.txt"]),
        ("non_bert_teacher", [*teach, "--teacher_dir", "{teacher_gpt2}"],
         ["teacher_gpt2", "gpt2"]),
        ("more_layers_than_the_teacher", [*teach, "--student_num_hidden_layers", "3"],
         ["--student_num_hidden_layers"]),
        ("layer_map_out_of_range", [*teach, "--teacher_layers", "2"], ["--teacher_layers"]),
        ("heads_do_not_divide_hidden", [*teach, "--student_hidden_size", "31"],
         ["--student_hidden_size", "31"]),
        ("heads_other_than_the_copied_teacher_layers", [*teach, "--student_num_attention_heads",
                                                        "4"],
         ["--student_num_attention_heads", "4 attention heads"]),
        ("data_of_another_vocab", [*teach, "--input_dir", "{data_other_vocab}"],
         ["data_other_vocab", "vocab"]),
        ("teacher_vocab_size_below_its_vocab", [*teach, "--teacher_dir",
                                                "{teacher_small_vocab_size}"],
         ["vocab_size", "teacher_small_vocab_size"]),
        ("zero_temperature", [*teach, "--temperature", "0"], ["--temperature"]),
        ("unwritable_output", [*teach, "--output_dir", "{a_file}/out"], ["a_file"]),
    ]
    tune = ["--model_dir", "{teacher}", "--train_file", "{labelled}", *out, "--seeds", "1",
            "--num_train_epochs", "1"]
    sql = ["--model_dir", "{teacher}", "--source_url", "sqlite:///{labelled_db}", *out,
           "--seeds", "1", "--num_train_epochs", "1", "--text_column", "body",
           "--label_column", "subject"]
    downstream = [
        ("missing_text_column", [*tune, "--text_column", "question"],
         ["labelled.jsonl", "'question'", "'text'", "--text_column"]),
        ("missing_pair_column", [*tune, "--text_pair_column", "knowledge"],
         ["'knowledge'", "--text_pair_column"]),
        ("missing_label_column", [*tune, "--label_column", "subject"],
         ["'subject'", "--label_column"]),
        ("one_class", [*tune, "--train_file", "{labelled_one_class}"],
         ["labelled_one_class.jsonl", "one class", "数学"]),
        ("eval_labels_unseen_in_training", [*tune, "--eval_file", "{labelled_eval_unseen}"],
         ["--eval_file", "labelled_eval_unseen.jsonl", "政治"]),
        ("empty_text", [*tune, "--train_file", "{labelled_empty_text}"],
         ["labelled_empty_text.jsonl", "2 rows", "lines 3, 5"]),
        ("malformed_jsonl", [*tune, "--train_file", "{labelled_bad_json}"],
         ["labelled_bad_json.jsonl", "line 2"]),
        ("tsv_row_with_too_few_fields", [*tune, "--train_file", "{labelled_short_row}"],
         ["labelled_short_row.tsv", "line 3"]),
        ("not_utf8", [*tune, "--train_file", "{labelled_bad_utf8}"],
         ["labelled_bad_utf8.csv", "line 3", "UTF-8"]),
        ("unknown_file_format", [*tune, "--train_file", "{text}"],
         ["--train_file", "text.txt", "'.txt'", ".jsonl"]),
        ("missing_train_file", [*tune, "--train_file", "{missing}"],
         ["--train_file", "missing.txt", "does not exist"]),
        ("non_bert_model", [*tune, "--model_dir", "{teacher_gpt2}"], ["teacher_gpt2", "gpt2"]),
        ("missing_model_dir", [*tune, "--model_dir", "{missing}"], ["missing.txt"]),
        ("sequence_longer_than_the_model", [*tune, "--max_seq_length", "512"],
         ["--max_seq_length", "128"]),
        ("seeds_not_integers", [*tune, "--seeds", "1,a"], ["--seeds"]),
        ("unwritable_output", [*tune, "--output_dir", "{a_file}/out"], ["a_file"]),
        ("no_labelled_rows", ["--model_dir", "{teacher}", *out], ["--train_file", "--query"]),
        ("query_and_train_file", [*tune, "--source_url", "sqlite:///{labelled_db}", "--query",
                                  "SELECT body, subject FROM questions"],
         ["--train_file / --query"]),
        ("query_without_source_url", ["--model_dir", "{teacher}", "--query", "SELECT 1", *out],
         ["--query", "--source_url"]),
        ("query_returns_no_rows", [*sql, "--query", "SELECT body, subject FROM questions "
                                   "WHERE id < 0"], ["--query", "returned no rows"]),
        ("query_lacks_the_label_column", [*sql, "--query", "SELECT id, body FROM questions"],
         ["--label_column", "'subject'", "id, body"]),
        ("query_with_null_labels", [*sql, "--query", "SELECT body, CASE WHEN id IN (3, 5) THEN "
                                    "NULL ELSE subject END AS subject FROM questions"],
         ["--query", "rows 3, 5", "2 rows", "'subject'"]),
        ("query_text_not_utf8", [*sql, "--query", "SELECT CASE WHEN id = 4 THEN X'FF41' ELSE "
                                 "body END AS body, subject FROM questions ORDER BY id"],
         ["--query", "row 4", "'body'", "UTF-8"]),
        ("eval_query_fails", [*sql, "--query", "SELECT body, subject FROM questions",
                              "--eval_query", "SELEC body"], ["--eval_query", "syntax"]),
        ("eval_query_labels_unseen", [*sql, "--query", "SELECT body, subject FROM questions",
                                      "--eval_query", "SELECT body, '政治' AS subject FROM "
                                      "questions LIMIT 2"], ["--eval_query", "'政治'"]),
    ]
    serve = ["--model_dir", "{teacher}", *out]
    serve_export = [
        ("missing_model_dir", [*serve, "--model_dir", "{missing}"], ["missing.txt"]),
        ("not_a_model_dir", [*serve, "--model_dir", "{empty_dir}"], ["empty_dir", "config.json"]),
        ("non_bert_model", [*serve, "--model_dir", "{teacher_gpt2}"], ["teacher_gpt2", "gpt2"]),
        ("records_longer_than_positions", [*serve, "--input_dir", "{data256}"],
         ["256", "data256", "max_position_embeddings"]),
        ("data_of_another_vocab", [*serve, "--input_dir", "{data_other_vocab}"],
         ["data_other_vocab", "vocab"]),
        ("unknown_head", [*serve, "--head", "classifier"], ["--head", "'classifier'"]),
        ("opset_below_the_exporters", [*serve, "--opset", "11"], ["--opset"]),
        ("unwritable_output", [*serve, "--output_dir", "{a_file}/out"], ["a_file"]),
    ]
    nowhere = ["--namenode_url", "http://127.0.0.1:9"]  # nothing listens on the discard port
    hdfs = [
        ("export_dir_without_manifest", ["export", "--input_dir", "{no_manifest}",
                                         "--hdfs_path", "/edu/x", *nowhere],
         ["corpus_no_manifest", "manifest"]),
        ("export_without_namenode", ["export", "--input_dir", "{corpus}", "--hdfs_path",
                                     "/edu/x"], ["--namenode_url"]),
        ("export_unreachable_namenode", ["export", "--input_dir", "{corpus}", "--hdfs_path",
                                         "/edu/x", *nowhere], ["/edu/x", "--namenode_url"]),
        ("import_unreachable_namenode", ["import", "--hdfs_path", "/edu/x", *out, *nowhere],
         ["/edu/x", "--namenode_url"]),
        ("import_relative_path", ["import", "--hdfs_path", "edu/x", *out, *nowhere],
         ["--hdfs_path", "edu/x"]),
        ("import_max_bad_fraction_above_1", ["import", "--hdfs_path", "/edu/x", *out, *nowhere,
                                             "--max_bad_fraction", "2"], ["--max_bad_fraction"]),
    ]
    table = []
    for stage, rows, in_process in (
            ("hdfs", hdfs, True),
            ("extract", extract, True), ("pretraining_data", pretraining, False),
            ("bert.init", bert_init, True), ("bert.init", bert_init_tf, True),
            ("train", train, True), ("evaluate", evaluate, True), ("convert", convert, True),
            ("distill", distill, True), ("downstream", downstream, True),
            ("serve_export", serve_export, True)):
        table += [Case(stage, name, args, names, in_process) for name, args, names in rows]
    return table


CASES = cases()
