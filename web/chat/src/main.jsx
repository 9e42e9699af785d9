// A minimal chat page: the AI SDK's useChat with WorkflowChatTransport against wdk's
// /api/chat routes. The first message starts a run; follow-ups carry {runId} in the body so
// the same run (a multi-turn chat workflow) answers them. Every request the transport makes
// is recorded in window.__wdkRequests for the browser test.
import React, { useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { WorkflowChatTransport } from '@workflow/ai';

window.__wdkRequests = [];

function recordingFetch(input, init) {
  const url = typeof input === 'string' ? input : input.url;
  window.__wdkRequests.push({ method: (init && init.method) || 'GET', url });
  return fetch(input, init);
}

function textOf(message) {
  return message.parts
    .filter((part) => part.type === 'text')
    .map((part) => part.text)
    .join('');
}

function Chat() {
  const runId = useRef(null);
  const [input, setInput] = useState('');
  const transport = useMemo(
    () =>
      new WorkflowChatTransport({
        api: '/api/chat',
        fetch: recordingFetch,
        onChatSendMessage: (response) => {
          runId.current = response.headers.get('x-workflow-run-id');
        },
      }),
    [],
  );
  const { messages, sendMessage, status, error } = useChat({ transport });

  const onSubmit = (event) => {
    event.preventDefault();
    if (!input.trim()) return;
    const body = runId.current ? { runId: runId.current } : {};
    sendMessage({ text: input }, { body });
    setInput('');
  };

  return (
    <main>
      <h1>wdk chat</h1>
      <ol id="messages">
        {messages.map((message) => (
          <li key={message.id} className="message" data-role={message.role}>
            {textOf(message)}
          </li>
        ))}
      </ol>
      <p id="status" data-status={status}>
        {status}
      </p>
      {error ? <p id="error">{String(error.message || error)}</p> : null}
      <form onSubmit={onSubmit}>
        <input id="input" value={input} onChange={(e) => setInput(e.target.value)} />
        <button id="send" type="submit" disabled={status !== 'ready'}>
          Send
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<Chat />);
