"""OCR for the `pdf` and `image` readers: whether a page's text layer can be trusted (`textcheck`), the
page image made ready for OCR (`prepare`: deskew, orientation), the OCR engines (`engines`) and the work
done for one page in a child process under a time limit (`pages`)."""
