"""Train: a Keras model declared in config, fed by tf.data, exported as a SavedModel."""
