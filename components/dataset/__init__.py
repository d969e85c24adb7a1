"""Dataset build: a Beam job that splits records by group and writes TFRecord shards."""
