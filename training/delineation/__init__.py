"""Training of the learned wave segmenter (P / QRS / T) on LUDB: data, model, CV, export."""
