// The browser half of course_lib.live_style.CameraWidget (an anywidget front-end module).
// The camera (getUserMedia) plays in a <video>; each frame is drawn on a canvas at the widget's
// width x height, sent to the kernel as JPEG bytes, and the styled JPEG that comes back is shown
// beside it. At most two frames are in flight, so the frame rate follows the kernel's speed.
// Without a camera (no API, none attached, or the user refused) the kernel sends sample photos.
// Nothing runs, and the camera stays off, until the kernel sets ``running`` (the start button).

function showJpeg(img, view) {
  const old = img.src;
  img.src = URL.createObjectURL(new Blob([view], { type: "image/jpeg" }));
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "course-live-style";
  const video = Object.assign(document.createElement("video"), { autoplay: true, muted: true, playsInline: true });
  const photo = document.createElement("img");      // the sample photo when there is no camera
  const styled = document.createElement("img");
  styled.className = "course-live-styled";
  const readout = document.createElement("div");
  readout.className = "course-live-readout";
  const note = document.createElement("div");
  note.className = "course-live-note";
  const pictures = document.createElement("div");
  pictures.className = "course-live-pictures";
  pictures.append(video, photo, styled);
  root.append(pictures, readout, note);
  el.append(root);

  const canvas = document.createElement("canvas");
  // Two camera frames in flight: while the kernel stylises one, the browser captures and sends the next,
  // so neither waits for the other; the kernel answers in order, so no queue builds up.
  const IN_FLIGHT = 2;
  let stream = null, inFlight = 0, stopped = true, watchdog = null, triedCamera = false;

  function answered(delay) {
    inFlight = Math.max(0, inFlight - 1);
    clearTimeout(watchdog);
    if (!stopped) setTimeout(sendFrame, delay);
  }

  function sendFrame() {
    if (stopped || inFlight >= (stream ? IN_FLIGHT : 1)) return;
    inFlight += 1;
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { inFlight = 0; sendFrame(); }, 5000);   // replies lost (kernel restarted): ask again
    if (!stream) {
      model.send({ kind: "sample" });
      return;
    }
    const w = model.get("width"), h = model.get("height");
    const vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh) return answered(100);             // the camera has not delivered a frame yet
    canvas.width = w;
    canvas.height = h;
    const scale = Math.max(w / vw, h / vh);           // cover: crop the video to the frame's aspect
    const sw = w / scale, sh = h / scale;
    canvas.getContext("2d").drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, w, h);
    canvas.toBlob(async (blob) => {
      model.send({ kind: "frame" }, undefined, [await blob.arrayBuffer()]);
      sendFrame();                                    // fill the pipeline
    }, "image/jpeg", 0.85);
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.kind === "styled") {
      showJpeg(styled, buffers[0]);
      if (buffers.length > 1) showJpeg(photo, buffers[1]);
      readout.textContent = msg.readout;
      answered(stream ? 0 : 1000);                    // sample photos: one a second is enough
    } else if (msg.kind === "error") {
      readout.textContent = msg.text;
      answered(2000);
    }
  });
  const showNote = () => { note.textContent = model.get("note"); };
  model.on("change:note", showNote);
  showNote();

  async function start() {
    if (stream === null && !triedCamera) {
      triedCamera = true;
      let state = "on";
      try {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
          throw new Error("this page may not use a camera (it needs https or localhost)");
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
        video.srcObject = stream;
        await video.play();
        photo.style.display = "none";
      } catch (error) {
        stream = null;
        video.style.display = "none";
        state = `${error.name || "Error"}: ${error.message || error}`;
      }
      model.set("camera", state);
      model.save_changes();
    }
    if (!model.get("running")) return stop();           // switched off while the camera was starting
    stopped = false;
    sendFrame();
  }

  function stop() {
    stopped = true;
    clearTimeout(watchdog);
    inFlight = 0;
    if (stream) stream.getTracks().forEach((track) => track.stop());   // the camera's light goes off
    stream = null;
    triedCamera = false;
    video.style.display = "";
    photo.style.display = "";
  }

  const follow = () => (model.get("running") ? start() : stop());
  model.on("change:running", follow);
  if (model.get("running")) start();

  return stop;
}

export default { render };
