"""The Generate page makes images from an ONNX file through engine.ondevice (ONNX Runtime, no torch)."""


def test_generate_page_makes_an_image_from_a_tiny_onnx(make_window, tiny_onnx):
    window = make_window()
    gen = window.pages["generate"]
    window.show_page("generate")
    assert not gen.start_button.isEnabled()  # no file chosen yet
    gen.path.setText(str(tiny_onnx))
    gen._fields["count"].setValue(12)
    gen._fields["nrow"].setValue(4)
    assert gen.start_button.isEnabled()
    gen.start_button.click()
    assert gen.grid.has_image() and gen.grid.updates == 1
    assert "ms" in gen.info.text() and "latent 8" in gen.info.text()
    gen.interp_button.click()
    assert gen.grid.updates == 2


def test_a_file_that_is_not_onnx_gives_a_dialog(make_window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    window = make_window()
    gen = window.pages["generate"]
    gen.path.setText(str(bad))
    gen.start_button.click()
    assert gen.last_dialog.isVisible() and "broken.onnx" in gen.last_dialog.text()
    assert not gen.grid.has_image()
    gen.last_dialog.close()
